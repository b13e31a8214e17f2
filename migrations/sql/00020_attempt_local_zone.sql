-- The lead's time zone when it was called (IANA name; its first zone when
-- the number alone places it in several), so reports can show calls and
-- answers by the lead's local day and hour.

-- +goose Up
ALTER TABLE call_attempts ADD COLUMN local_zone text;

-- +goose Down
ALTER TABLE call_attempts DROP COLUMN local_zone;
