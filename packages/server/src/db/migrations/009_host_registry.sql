-- The host registry: hosts added and changed through the admin API (`/api/v1/admin/hosts…`) as well as the
-- configured ones. A host's pRPC auth token is kept sealed (AES-256-GCM under the server's seal key, as the
-- KMS root keys are): the server opens it to call the host, and no answer carries it. `auth_token` (the
-- plaintext of earlier versions) is sealed into `auth_token_sealed` and cleared by the server at its next
-- start. The KMS token the host's guests present stays a SHA-256 (`kms_token_hash`): only compared.
ALTER TABLE nodes
  ADD COLUMN auth_token_sealed text,
  -- no new placements while set; CVMs already there keep running
  ADD COLUMN cordoned boolean NOT NULL DEFAULT false,
  ADD COLUMN labels jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN max_disk_gb integer NOT NULL DEFAULT 0,
  -- the host's GPUs: [{slot, product_id, description}]
  ADD COLUMN gpus jsonb NOT NULL DEFAULT '[]',
  -- a dev host (debuggable guests) rather than a production one
  ADD COLUMN dev boolean NOT NULL DEFAULT false,
  ADD COLUMN onchain_kms boolean NOT NULL DEFAULT true,
  -- what the operator set (capacity, GPUs, device id): these win over what the host reports at each refresh
  ADD COLUMN overrides jsonb NOT NULL DEFAULT '{}',
  -- 'config' (OPENCVM_HOSTS or the simulated host) or 'admin' (the admin API)
  ADD COLUMN source text NOT NULL DEFAULT 'config',
  ADD COLUMN refreshed_at timestamptz;

-- A removed host keeps its row (its CVMs' history points at it) but frees its name for another host.
ALTER TABLE nodes ADD COLUMN removed_at timestamptz;
ALTER TABLE nodes DROP CONSTRAINT nodes_name_key;
CREATE UNIQUE INDEX nodes_name_live ON nodes (name) WHERE removed_at IS NULL;
