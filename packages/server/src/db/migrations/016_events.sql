-- Events: what happened to a workspace's CVMs (and, for the operator, to hosts), written in the same transaction
-- as the change they describe (an outbox), so an event exists exactly when its change committed.
--
-- seq: the order events were written in (a CVM's events are written under its row lock, so for one CVM this is
-- also the order they committed in); id: `evt_` + 32 hex digits, the event's stable id (a webhook delivery's
-- `webhook-id`); workspace_id: null for operator events (hosts); type: one of the contract's EVENT_TYPES;
-- data: the event's fields (from/to, the error, the compose hash and revision, ...).
CREATE TABLE events (
  seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id            text NOT NULL UNIQUE DEFAULT ('evt_' || replace(gen_random_uuid()::text, '-', '')),
  workspace_id  bigint REFERENCES workspaces(id) ON DELETE CASCADE,
  cvm_id        bigint,
  app_id        text,
  type          text NOT NULL,
  data          jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX events_workspace ON events (workspace_id, seq);
CREATE INDEX events_app ON events (app_id, seq) WHERE app_id IS NOT NULL;
CREATE INDEX events_cvm ON events (cvm_id, seq) WHERE cvm_id IS NOT NULL;
