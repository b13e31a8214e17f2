-- The call-list upload wizard (issue 13): an import's report tells
-- duplicates within the file from leads already in the campaign.
-- duplicates keeps the total of both.

-- +goose Up
ALTER TABLE imports
    ADD COLUMN duplicates_in_file integer NOT NULL DEFAULT 0 CHECK (duplicates_in_file >= 0),
    ADD CONSTRAINT imports_duplicates_in_file CHECK (duplicates_in_file <= duplicates);

-- +goose Down
ALTER TABLE imports DROP CONSTRAINT imports_duplicates_in_file, DROP COLUMN duplicates_in_file;
