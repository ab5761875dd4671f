-- A provider session's JWT is exchanged for an app session at most once: exchanged_at records when.
ALTER TABLE provider_sessions ADD COLUMN exchanged_at BIGINT;
