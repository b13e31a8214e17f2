-- Script versions (issue 13, the script editor): every version of a
-- script saved from the web UI, kept whole, independent of campaigns. A
-- campaign still pins its own copy (campaigns.script_id, script_version,
-- script_yaml) when it starts; the scripts page joins the two on
-- (script_id, version).

-- +goose Up
CREATE TABLE script_versions (
    script_id  text NOT NULL CHECK (script_id <> ''),       -- the script's `id:`
    version    integer NOT NULL CHECK (version >= 1),       -- its `version:`
    yaml       text NOT NULL,
    sha256     text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'), -- of yaml, hex
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (script_id, version)
);
-- The campaigns pinned to a version.
CREATE INDEX campaigns_script_version ON campaigns (script_id, script_version) WHERE script_version IS NOT NULL;

-- +goose Down
DROP INDEX campaigns_script_version;
DROP TABLE script_versions;
