-- Workspace webhooks (Phala Cloud's `/workspace/webhooks`) and their deliveries.
--
-- webhooks: a workspace's endpoints. `events`: the event types it receives (the contract's EVENT_TYPES, or `*`
-- for all); `secret_sealed`: its signing secret (`whsec_…`), sealed with AES-256-GCM under the server's seal key
-- (it must be recovered to sign, so it is not hashed); `previous_secret_sealed` + `previous_secret_expires_at`:
-- after a rotation, the old secret signs alongside the new one until then.
CREATE TABLE webhooks (
  seq                         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id                          text PRIMARY KEY,
  workspace_id                bigint NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  name                        text,
  url                         text NOT NULL,
  events                      text[] NOT NULL,
  enabled                     boolean NOT NULL DEFAULT true,
  secret_sealed               text NOT NULL,
  previous_secret_sealed      text,
  previous_secret_expires_at  timestamptz,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id, seq);

-- One event to send to one webhook. status: pending (due at `next_attempt_at`; while an attempt is under way,
-- `next_attempt_at` is its lease: a server killed mid-attempt leaves it due again once that passes), succeeded
-- (a 2xx), failed (no 2xx within the webhook retry window). A webhook's deliveries of one CVM are sent in
-- (event_seq, id) order: one waits while an earlier one of the same webhook and CVM is pending.
-- `resend_of`: the delivery a resend repeats (the same event, so the same `webhook-id`).
CREATE TABLE webhook_deliveries (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook_id        text NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  event_seq         bigint NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
  event_id          text NOT NULL,
  event_type        text NOT NULL,
  cvm_id            bigint,
  resend_of         bigint REFERENCES webhook_deliveries(id) ON DELETE SET NULL,
  status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts          integer NOT NULL DEFAULT 0,
  next_attempt_at   timestamptz NOT NULL DEFAULT now(),
  lease_owner       text,
  first_attempt_at  timestamptz,
  request_url       text,
  response_status   integer,
  response_excerpt  text,
  duration_ms       integer,
  error             text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  delivered_at      timestamptz,
  finished_at       timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, cvm_id, event_seq, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id DESC);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (webhook_id, event_id);

-- Every attempt of a delivery, as it ended (never updated).
CREATE TABLE webhook_attempts (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  delivery_id       bigint NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
  attempt           integer NOT NULL,
  request_url       text NOT NULL,
  response_status   integer,
  response_excerpt  text,
  duration_ms       integer NOT NULL,
  error             text,
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- The fan-out, in the event's own transaction: one delivery per enabled webhook of the event's workspace whose
-- filter takes the event's type. Operator events (no workspace) go to no webhook; `webhook.test` events are
-- addressed to one webhook by the test endpoint itself.
CREATE FUNCTION events_webhook_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.workspace_id IS NULL OR NEW.type = 'webhook.test' THEN
    RETURN NEW;
  END IF;
  INSERT INTO webhook_deliveries (webhook_id, event_seq, event_id, event_type, cvm_id)
  SELECT w.id, NEW.seq, NEW.id, NEW.type, NEW.cvm_id
    FROM webhooks w
   WHERE w.workspace_id = NEW.workspace_id AND w.enabled AND (NEW.type = ANY (w.events) OR '*' = ANY (w.events))
   ORDER BY w.seq;
  RETURN NEW;
END $$;

CREATE TRIGGER events_webhook_fan_out AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION events_webhook_fan_out();
