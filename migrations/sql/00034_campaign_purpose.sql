-- +goose Up
-- What a campaign calls for decides which jurisdiction rules bind it and
-- whether written consent is mandatory (telemarketing). Campaigns from
-- before keep "unspecified": every rule's hours and caps, consent as
-- require_consent says.
ALTER TABLE campaigns ADD COLUMN purpose text NOT NULL DEFAULT 'unspecified'
    CHECK (purpose IN ('unspecified', 'telemarketing', 'informational'));

-- +goose Down
ALTER TABLE campaigns DROP COLUMN purpose;
