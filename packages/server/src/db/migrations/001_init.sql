-- opencvm schema, version 1: workspaces and keys, the catalogue (nodes, KMS, OS images, instance types),
-- apps, CVMs, provisions and operations.

CREATE TABLE workspaces (
  id            bigserial PRIMARY KEY,
  name          text NOT NULL,
  slug          text NOT NULL UNIQUE,
  tier          text NOT NULL DEFAULT 'self-hosted',
  -- the workspace's deployer address: PHALA-KMS app ids are CREATE addresses of (team_wallet, nonce)
  team_wallet   text NOT NULL,
  next_nonce    bigint NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id            bigserial PRIMARY KEY,
  username      text NOT NULL UNIQUE,
  email         text NOT NULL,
  role          text NOT NULL DEFAULT 'user',
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspace_members (
  workspace_id  bigint NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role          text NOT NULL DEFAULT 'owner',
  PRIMARY KEY (workspace_id, user_id)
);

-- API keys are stored as SHA-256 of the key (they are 256-bit random, so a fast hash is enough);
-- `prefix` is the first characters, kept only so a user can tell keys apart.
CREATE TABLE api_keys (
  id            bigserial PRIMARY KEY,
  workspace_id  bigint NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  key_hash      text NOT NULL UNIQUE,
  prefix        text NOT NULL,
  name          text NOT NULL DEFAULT 'default',
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz
);

-- dstack hosts (dstack-vmm instances) this control plane places CVMs on.
CREATE TABLE nodes (
  id                 bigserial PRIMARY KEY,
  name               text NOT NULL UNIQUE,
  url                text NOT NULL,
  auth_token         text,           -- bearer token for the host's pRPC API
  kms_token_hash     text,           -- SHA-256 of the token the host's guests present to the KMS
  region             text NOT NULL DEFAULT 'local',
  device_id          text NOT NULL,
  ppid               text NOT NULL DEFAULT '',
  fmspc              text NOT NULL DEFAULT '',
  gateway_base_domain text,
  max_cvms           integer NOT NULL DEFAULT 0,
  max_vcpu           integer NOT NULL DEFAULT 0,
  max_memory_mb      integer NOT NULL DEFAULT 0,
  listed             boolean NOT NULL DEFAULT true,
  status             text NOT NULL DEFAULT 'online',
  version            text,
  created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE node_images (
  node_id        bigint NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
  name           text NOT NULL,
  version        text NOT NULL,
  is_dev         boolean NOT NULL,
  requires_gpu   boolean NOT NULL DEFAULT false,
  os_image_hash  text,
  PRIMARY KEY (node_id, name)
);

CREATE TABLE kms_instances (
  id                   text PRIMARY KEY,
  slug                 text UNIQUE,
  kms_type             text NOT NULL,       -- phala | ethereum | base
  url                  text NOT NULL,
  version              text NOT NULL,
  chain_id             integer,
  kms_contract_address text,
  gateway_app_id       text,
  created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE apps (
  app_id           text PRIMARY KEY,          -- 40 lowercase hex
  workspace_id     bigint NOT NULL REFERENCES workspaces(id),
  name             text NOT NULL,
  kms_id           text NOT NULL REFERENCES kms_instances(id),
  env_pubkey       text,                      -- X25519, hex; derived by the KMS, cached here
  nonce            bigint,
  contract_address text,
  deployer_address text,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX apps_workspace ON apps (workspace_id, created_at DESC);

-- The first phase of a deploy: the validated, hashed app-compose, kept 14 days for the commit.
CREATE TABLE provisions (
  id              bigserial PRIMARY KEY,
  workspace_id    bigint NOT NULL REFERENCES workspaces(id),
  user_id         bigint NOT NULL REFERENCES users(id),
  compose_hash    text NOT NULL,
  app_id          text,                       -- null for on-chain KMS until the commit names it
  name            text NOT NULL,
  app_compose     text NOT NULL,              -- the exact bytes that were hashed
  node_id         bigint NOT NULL REFERENCES nodes(id),
  kms_id          text NOT NULL REFERENCES kms_instances(id),
  instance_type   text,
  vcpu            integer NOT NULL,
  memory_mb       integer NOT NULL,
  disk_gb         integer NOT NULL,
  image           text NOT NULL,
  listed          boolean NOT NULL,
  nonce           bigint,
  settings        jsonb NOT NULL,             -- ports, gpus, user_config, hugepages, pin_numa, env_keys, encrypted_env
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  committed_at    timestamptz
);
CREATE INDEX provisions_lookup ON provisions (workspace_id, compose_hash);

CREATE TABLE cvms (
  id               bigserial PRIMARY KEY,
  vm_uuid          uuid NOT NULL UNIQUE,
  workspace_id     bigint NOT NULL REFERENCES workspaces(id),
  creator_id       bigint REFERENCES users(id),
  app_id           text NOT NULL REFERENCES apps(app_id),
  name             text NOT NULL,
  status           text NOT NULL,
  node_id          bigint NOT NULL REFERENCES nodes(id),
  host_vm_id       text,
  kms_id           text NOT NULL REFERENCES kms_instances(id),
  instance_type    text,
  vcpu             integer NOT NULL,
  memory_mb        integer NOT NULL,
  disk_gb          integer NOT NULL,
  image            text NOT NULL,
  compose_hash     text NOT NULL,
  app_compose      text NOT NULL,
  encrypted_env    text,
  env_keys         jsonb NOT NULL DEFAULT '[]',
  user_config      text,
  ports            jsonb NOT NULL DEFAULT '[]',
  gpus             jsonb,
  hugepages        boolean NOT NULL DEFAULT false,
  pin_numa         boolean NOT NULL DEFAULT false,
  listed           boolean NOT NULL DEFAULT false,
  instance_id      text,
  boot_progress    text,
  boot_error       text,
  shutdown_progress text,
  started_at       timestamptz,
  exited_at        timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  deleted_at       timestamptz
);
CREATE UNIQUE INDEX cvms_name_unique ON cvms (workspace_id, name) WHERE deleted_at IS NULL;
CREATE INDEX cvms_workspace ON cvms (workspace_id, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX cvms_app ON cvms (app_id) WHERE deleted_at IS NULL;
CREATE INDEX cvms_instance ON cvms (instance_id) WHERE instance_id IS NOT NULL;

-- Every change to a CVM is an operation; a worker drives the host and records progress here.
CREATE TABLE operations (
  id              bigserial PRIMARY KEY,
  correlation_id  uuid NOT NULL UNIQUE,
  workspace_id    bigint NOT NULL REFERENCES workspaces(id),
  cvm_id          bigint NOT NULL REFERENCES cvms(id),
  kind            text NOT NULL,            -- create | start | stop | ...
  target_status   text NOT NULL,
  state           text NOT NULL,            -- pending | running | succeeded | failed
  step            text,
  error           text,
  attempts        integer NOT NULL DEFAULT 0,
  run_after       timestamptz NOT NULL DEFAULT now(),
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz
);
CREATE INDEX operations_due ON operations (run_after) WHERE state IN ('pending', 'running');
CREATE UNIQUE INDEX operations_one_active ON operations (cvm_id) WHERE state IN ('pending', 'running');
