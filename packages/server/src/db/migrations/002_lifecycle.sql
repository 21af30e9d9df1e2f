-- Lifecycle and runtime reads.

-- the guest's last reported runtime state, refreshed by the reconciler (never read from a host on a
-- request path): {"containers": [...], "sysinfo": {...}, "network": {...}, "refreshed_at": "<iso>"}
ALTER TABLE cvms ADD COLUMN runtime jsonb;
-- the CVM this one replicates (POST /cvms/{id}/replicas), if any
ALTER TABLE cvms ADD COLUMN source_cvm_id bigint REFERENCES cvms(id);
-- request parameters of an operation (e.g. {"force": true} for restart)
ALTER TABLE operations ADD COLUMN params jsonb NOT NULL DEFAULT '{}';
CREATE INDEX operations_cvm ON operations (cvm_id, id DESC);

-- small server-wide secrets (e.g. the key that signs log URLs), created on first use
CREATE TABLE server_secrets (
  name        text PRIMARY KEY,
  value       text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
