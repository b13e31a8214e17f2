-- The web UI (issue 13): users who log in (a role and an argon2id password
-- hash) and their sessions.

-- +goose Up
ALTER TABLE users
    ADD COLUMN role text CHECK (role IN ('admin', 'marketing', 'sales')),
    -- argon2id in the PHC string format; NULL: the user cannot log in.
    ADD COLUMN password_hash text,
    -- The password was given by an administrator: the user sets their own
    -- at the next login.
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
    ADD COLUMN last_login_at timestamptz,
    ADD CONSTRAINT users_login_has_role CHECK (password_hash IS NULL OR (role IS NOT NULL AND email IS NOT NULL));
-- E-mail addresses are unique whatever their case.
CREATE UNIQUE INDEX users_email_lower ON users (lower(email)) WHERE email IS NOT NULL;

-- Web sessions (alexedwards/scs): the token is the cookie's value.
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
DROP INDEX users_email_lower;
ALTER TABLE users DROP CONSTRAINT users_login_has_role, DROP COLUMN last_login_at, DROP COLUMN must_change_password,
    DROP COLUMN password_hash, DROP COLUMN role;
