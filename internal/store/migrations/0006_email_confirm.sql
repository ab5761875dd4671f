-- Email confirmation: with a mail server, sign-up mails a one-time link (SHA-256 of a 256-bit token,
-- 24 hours, single use) whose use sets users.email_confirmed_at. The account works either way.
ALTER TABLE users ADD COLUMN email_confirmed_at BIGINT;

CREATE TABLE email_confirmations (
    hash       BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX email_confirmations_expires_at_idx ON email_confirmations (expires_at);
