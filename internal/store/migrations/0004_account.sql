-- The account page: where each app session is (public id, device, last seen), passkey names and clone
-- warnings, and the activity log. Rows written before this migration leave the new columns NULL.
ALTER TABLE sessions ADD COLUMN public_id TEXT;
ALTER TABLE sessions ADD COLUMN provider_sid TEXT;
ALTER TABLE sessions ADD COLUMN created_at BIGINT;
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;

ALTER TABLE passkeys ADD COLUMN name TEXT;
ALTER TABLE passkeys ADD COLUMN clone_warning_at BIGINT;

CREATE TABLE activity (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    ip         TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    detail     TEXT NOT NULL
);

CREATE INDEX activity_user_at_idx ON activity (user_id, at);
CREATE INDEX activity_at_idx ON activity (at);
