-- The lead's local weekday (ISO: 1 Monday … 7 Sunday) and hour when it was
-- called, in its time zone as the dialler placed it (its first zone when
-- the number alone places it in several): reports show calls and answers
-- by the lead's local day and hour without time-zone arithmetic per row.

-- +goose Up
ALTER TABLE call_attempts ADD COLUMN local_weekday smallint CHECK (local_weekday BETWEEN 1 AND 7),
    ADD COLUMN local_hour smallint CHECK (local_hour BETWEEN 0 AND 23);

-- +goose Down
ALTER TABLE call_attempts DROP COLUMN local_weekday, DROP COLUMN local_hour;
