-- A user's sessions are looked up by user and expiry together (the account page lists the unexpired
-- ones). With separate indexes, PostgreSQL — right after many sessions were added and before its
-- statistics caught up — combined the user's index with a scan of every unexpired session in the
-- expiry index: 1.6 ms per lookup at 100,000 sessions instead of 0.05. One index on both columns serves
-- the lookup whatever the statistics say, and every lookup by user alone.
CREATE INDEX sessions_user_id_expiry_idx ON sessions (user_id, expiry);

DROP INDEX sessions_user_id_idx;
