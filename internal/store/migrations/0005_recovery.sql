-- Account recovery: single-use recovery codes (argon2id hashes, each with its own salt) and one-time
-- recovery links an operator hands out (SHA-256 of a 256-bit token). users.recovery_codes_at records
-- when the account's current set was made, so the first set is made (and shown) exactly once.
ALTER TABLE users ADD COLUMN recovery_codes_at BIGINT;

CREATE TABLE recovery_codes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    salt       BYTEA NOT NULL,
    hash       BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX recovery_codes_user_id_idx ON recovery_codes (user_id);

CREATE TABLE recovery_links (
    hash       BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX recovery_links_expires_at_idx ON recovery_links (expires_at);
