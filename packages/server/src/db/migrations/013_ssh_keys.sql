-- A user's SSH public keys (`/user/ssh-keys…`). A CVM deployed by the user gets them in its dstack user_config
-- (`ssh_authorized_keys`), copied at the commit: later changes here do not reach CVMs already deployed.
--
-- id: `sshkey_` + 20 hex digits (the API's key id); public_key: the key line as validated (type, base64,
-- comment); fingerprint: OpenSSH's `SHA256:` form, unique per user (the same key is not added twice);
-- source: `manual` (POST /user/ssh-keys) or `github` (imported from a GitHub profile, key_metadata holding
-- `{"github_username": ...}`, last_synced_at when GitHub last listed it).
CREATE TABLE ssh_keys (
  id             text PRIMARY KEY,
  -- the order keys were added in (keys added by one import share their created_at)
  seq            bigint GENERATED ALWAYS AS IDENTITY,
  user_id        bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name           text NOT NULL,
  public_key     text NOT NULL,
  fingerprint    text NOT NULL,
  key_type       text NOT NULL,
  source         text NOT NULL CHECK (source IN ('manual', 'github')),
  key_metadata   jsonb,
  last_synced_at timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, fingerprint)
);
