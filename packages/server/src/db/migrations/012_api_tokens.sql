-- API tokens (Phala Cloud's /tokens): an API key may expire, and records when it was last used (written at
-- most once a minute per key, so a busy key does not write its row on every request).
-- A key is checked at every request by one indexed read (api_keys_key_hash_key, the UNIQUE of key_hash): no
-- server trusts a key it checked earlier, so a revoked or expired key is refused on every server at once.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;

-- GET /tokens: a workspace's keys that are not revoked, newest first
CREATE INDEX api_keys_workspace_live ON api_keys (workspace_id, id DESC) WHERE revoked_at IS NULL;
