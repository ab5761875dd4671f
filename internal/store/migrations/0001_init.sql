-- Latchkey's first schema. SQL accepted by both SQLite and PostgreSQL: times are unix milliseconds
-- (BIGINT), bytes are BYTEA (a blob in SQLite). Statements are split on ';', so none may contain one
-- inside a literal.

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE passkeys (
    credential_id    BYTEA PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    public_key       BYTEA NOT NULL,
    sign_count       BIGINT NOT NULL,
    aaguid           BYTEA,
    transports       TEXT NOT NULL,
    attestation_type TEXT NOT NULL,
    user_present     BOOLEAN NOT NULL,
    user_verified    BOOLEAN NOT NULL,
    backup_eligible  BOOLEAN NOT NULL,
    backup_state     BOOLEAN NOT NULL,
    created_at       BIGINT NOT NULL,
    last_used_at     BIGINT
);

CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_jwk BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE used_challenges (
    hash       BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX used_challenges_expires_at_idx ON used_challenges (expires_at);

CREATE TABLE provider_sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX provider_sessions_user_id_idx ON provider_sessions (user_id);
CREATE INDEX provider_sessions_expires_at_idx ON provider_sessions (expires_at);

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BYTEA NOT NULL,
    expiry BIGINT NOT NULL
);

CREATE INDEX sessions_expiry_idx ON sessions (expiry);
