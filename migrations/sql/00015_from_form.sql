-- An answer a script took from the lead's own field (a question's `from:`)
-- instead of asking: the question was not asked on the call.

-- +goose Up
ALTER TABLE answers ADD COLUMN from_form boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE answers DROP COLUMN from_form;
