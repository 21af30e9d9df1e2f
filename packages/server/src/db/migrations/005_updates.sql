-- Configuration updates (PATCH /cvms/{id} and the other update endpoints): revisions, compose-update provisions, commit tokens.

-- how long a graceful stop may take before it becomes a forced one, and whether it may (PATCH fields)
ALTER TABLE cvms ADD COLUMN shutdown_timeout_s integer;
ALTER TABLE cvms ADD COLUMN allow_force_stop boolean NOT NULL DEFAULT true;

-- Every change that moves a CVM's compose hash (the first deploy included) is a revision: what ran,
-- who asked, when, through which operation. Revisions are never changed or deleted.
CREATE TABLE revisions (
  id              bigserial PRIMARY KEY,
  revision_id     text NOT NULL UNIQUE,        -- rev_<16 hex>, the id clients see
  workspace_id    bigint NOT NULL REFERENCES workspaces(id),
  app_id          text NOT NULL REFERENCES apps(app_id),
  cvm_id          bigint NOT NULL REFERENCES cvms(id),
  compose_hash    text NOT NULL,
  app_compose     text NOT NULL,               -- the exact hashed text
  encrypted_env   text,
  env_keys        jsonb NOT NULL DEFAULT '[]',
  user_config     text,
  operation_type  text NOT NULL,               -- create | replicate | update | compose_update | env_update | rollback ...
  operation_id    bigint REFERENCES operations(id),
  correlation_id  uuid,
  triggered_by    bigint REFERENCES users(id),
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revisions_app ON revisions (app_id, id DESC);

CREATE FUNCTION revisions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'revisions are immutable';
END $$;
CREATE TRIGGER revisions_immutable BEFORE UPDATE OR DELETE ON revisions
  FOR EACH ROW EXECUTE FUNCTION revisions_immutable();

-- Phase one of a two-phase change: the validated change set, kept 14 days. A compose-file provision
-- (POST /cvms/{id}/compose_file/provision) is found again by its compose hash; a prepare-only PATCH
-- by its one-time commit token, of which only the SHA-256 is stored.
CREATE TABLE pending_updates (
  id              bigserial PRIMARY KEY,
  kind            text NOT NULL,               -- compose_provision | prepared_patch
  workspace_id    bigint NOT NULL REFERENCES workspaces(id),
  cvm_id          bigint NOT NULL REFERENCES cvms(id),
  compose_hash    text NOT NULL,               -- the hash the change leads to
  base_hash       text NOT NULL,               -- the CVM's hash when it was prepared
  token_hash      text UNIQUE,                 -- prepared_patch only
  change          jsonb NOT NULL,
  created_by      bigint REFERENCES users(id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  used_at         timestamptz
);
CREATE INDEX pending_updates_cvm ON pending_updates (cvm_id, compose_hash);

-- the first revision of every CVM that exists already
INSERT INTO revisions (revision_id, workspace_id, app_id, cvm_id, compose_hash, app_compose, encrypted_env, env_keys,
                       user_config, operation_type, triggered_by, created_at)
SELECT 'rev_' || substr(md5(random()::text || c.id::text), 1, 16), c.workspace_id, c.app_id, c.id, c.compose_hash,
       c.app_compose, c.encrypted_env, c.env_keys, c.user_config,
       CASE WHEN c.source_cvm_id IS NULL THEN 'create' ELSE 'replicate' END, c.creator_id, c.created_at
  FROM cvms c WHERE c.deleted_at IS NULL;
