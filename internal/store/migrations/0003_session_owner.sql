-- App sessions know whose they are, so deleting a user (or a passkey) can end that user's sessions in the
-- same transaction. Rows written before this migration have no owner; they end at their expiry.
ALTER TABLE sessions ADD COLUMN user_id TEXT;

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
