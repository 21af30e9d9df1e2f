-- Events: what happened to a workspace's CVMs (and, for the operator, to hosts), written in the same transaction
-- as the change they describe (an outbox), so an event exists exactly when its change committed: a change that
-- rolls back takes its events with it.
--
-- seq: the order events were written in; id: `evt_` + 32 hex digits, the event's stable id (a webhook delivery's
-- `webhook-id`); workspace_id: null for operator events (hosts); cvm_id, app_id: the CVM and app concerned (null
-- for hosts); type: one of the contract's EVENT_TYPES (packages/contract/src/events.ts); data: the event's fields
-- (below). No secret is ever copied into data: no env values, no user_config, no tokens, no operation params.
--
-- workspace_id has no foreign key on purpose: a foreign key check would take a KEY SHARE lock on the workspace's
-- row at every event, and every worker transaction of every CVM of a workspace would then share (multixact) that
-- one row. Workspaces are never deleted.
CREATE TABLE events (
  seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id            text NOT NULL UNIQUE DEFAULT ('evt_' || replace(gen_random_uuid()::text, '-', '')),
  workspace_id  bigint,
  cvm_id        bigint,
  app_id        text,
  type          text NOT NULL,
  data          jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX events_workspace ON events (workspace_id, seq);
CREATE INDEX events_app ON events (app_id, seq) WHERE app_id IS NOT NULL;
CREATE INDEX events_cvm ON events (cvm_id, seq) WHERE cvm_id IS NOT NULL;

-- Events are written by triggers, so that no writer (API, worker, reconciler, of any server) can forget one.
--
-- Order. The events of one CVM are written while its transaction holds the CVM's row lock, and seq is taken at
-- the INSERT: a later transaction that writes an event of the same CVM must first wait for that lock, i.e. for
-- the earlier one to commit or roll back, so for one CVM seq ascending is the order the events committed in.
-- * cvms INSERT: a row nobody else can see (or lock) before the transaction commits.
-- * cvms UPDATE: the UPDATE holds the row's lock until the transaction ends.
-- * operations and revisions: their trigger locks the CVM's row first (FOR NO KEY UPDATE, the lock an UPDATE of
--   cvms takes; free if the transaction holds it already). Every writer of an operation's end (the worker) locks
--   the operation's row and then the CVM's, and the services lock the CVM's row before they insert an operation
--   or a revision, so taking the CVM's row here adds no lock order that was not there before.
-- Host events carry no CVM; they are ordered by seq only.
--
-- Data common to every CVM event: cvm_id (the internal id, as the CVM shapes' `id`), vm_uuid, name, app_id and
-- status (the CVM's status once the change is made).
--   cvm.created                 + node_id, compose_hash, instance_type, vcpu, memory_mb, disk_gb, image,
--                                 source_cvm_id (a replica's source), triggered_by (the user who deployed)
--   cvm.status_changed          + from, to (the previous and the new status; `to` equals status)
--   cvm.operation_started       + correlation_id, kind, operation_type, target_status, triggered_by, reason
--   cvm.operation_succeeded     + the same, and step
--   cvm.operation_failed        + the same, step and error
--   cvm.configuration_updated   + compose_hash, and: with a new compose hash (from its revision) revision_id,
--                                 correlation_id, operation_type, triggered_by; otherwise `changed`, the names of
--                                 the fields that changed (never their values)
--   cvm.deleted                 + from (the status before)
--   host.unreachable/recovered  node_id, node_name, reason, and the host event's details

CREATE FUNCTION event_cvm_fields(cvm_id bigint, vm_uuid uuid, name text, app_id text, status text) RETURNS jsonb
  LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('cvm_id', cvm_id, 'vm_uuid', vm_uuid, 'name', name, 'app_id', app_id, 'status', status)
$$;

-- cvms: created; status changed; deleted; a configuration change that moves no compose hash (a compose hash
-- change is recorded with its revision, below). A deploy's status `starting` is in its cvm.created.
CREATE FUNCTION cvm_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  base jsonb := event_cvm_fields(NEW.id, NEW.vm_uuid, NEW.name, NEW.app_id, NEW.status);
  evs jsonb := '[]'::jsonb;
  changed text[] := '{}';
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO events (workspace_id, cvm_id, app_id, type, data)
    VALUES (NEW.workspace_id, NEW.id, NEW.app_id, 'cvm.created',
            base || jsonb_build_object('node_id', NEW.node_id, 'compose_hash', NEW.compose_hash, 'instance_type', NEW.instance_type,
                                       'vcpu', NEW.vcpu, 'memory_mb', NEW.memory_mb, 'disk_gb', NEW.disk_gb, 'image', NEW.image,
                                       'source_cvm_id', NEW.source_cvm_id, 'triggered_by', NEW.creator_id));
    RETURN NULL;
  END IF;
  IF OLD.status IS DISTINCT FROM NEW.status THEN
    evs := evs || jsonb_build_object('type', 'cvm.status_changed', 'data', base || jsonb_build_object('from', OLD.status, 'to', NEW.status));
  END IF;
  IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
    -- a deletion drops the CVM's secrets: that is no configuration change
    evs := evs || jsonb_build_object('type', 'cvm.deleted', 'data', base || jsonb_build_object('from', OLD.status));
  ELSIF OLD.compose_hash = NEW.compose_hash THEN
    IF OLD.name IS DISTINCT FROM NEW.name THEN changed := changed || 'name'::text; END IF;
    IF OLD.encrypted_env IS DISTINCT FROM NEW.encrypted_env THEN changed := changed || 'encrypted_env'::text; END IF;
    IF OLD.env_keys IS DISTINCT FROM NEW.env_keys THEN changed := changed || 'env_keys'::text; END IF;
    IF OLD.user_config IS DISTINCT FROM NEW.user_config THEN changed := changed || 'user_config'::text; END IF;
    IF OLD.vcpu IS DISTINCT FROM NEW.vcpu THEN changed := changed || 'vcpu'::text; END IF;
    IF OLD.memory_mb IS DISTINCT FROM NEW.memory_mb THEN changed := changed || 'memory_mb'::text; END IF;
    IF OLD.disk_gb IS DISTINCT FROM NEW.disk_gb THEN changed := changed || 'disk_gb'::text; END IF;
    IF OLD.image IS DISTINCT FROM NEW.image THEN changed := changed || 'image'::text; END IF;
    IF OLD.instance_type IS DISTINCT FROM NEW.instance_type THEN changed := changed || 'instance_type'::text; END IF;
    IF OLD.listed IS DISTINCT FROM NEW.listed THEN changed := changed || 'listed'::text; END IF;
    IF OLD.shutdown_timeout_s IS DISTINCT FROM NEW.shutdown_timeout_s THEN changed := changed || 'shutdown_timeout_s'::text; END IF;
    IF OLD.allow_force_stop IS DISTINCT FROM NEW.allow_force_stop THEN changed := changed || 'allow_force_stop'::text; END IF;
    IF cardinality(changed) > 0 THEN
      evs := evs || jsonb_build_object('type', 'cvm.configuration_updated',
                                       'data', base || jsonb_build_object('compose_hash', NEW.compose_hash, 'changed', to_jsonb(changed)));
    END IF;
  END IF;
  -- one INSERT whatever the number of events, in the order above
  INSERT INTO events (workspace_id, cvm_id, app_id, type, data)
  SELECT NEW.workspace_id, NEW.id, NEW.app_id, e.v->>'type', e.v->'data'
    FROM jsonb_array_elements(evs) WITH ORDINALITY AS e(v, n) ORDER BY e.n;
  RETURN NULL;
END
$$;

CREATE TRIGGER cvms_events_created AFTER INSERT ON cvms
  FOR EACH ROW EXECUTE FUNCTION cvm_events();
-- only an UPDATE that changes something an event reports runs the function (a progress write, a lease, a runtime
-- snapshot costs nothing more); gpus, which a commit may set in its own transaction, is no configuration event
CREATE TRIGGER cvms_events_changed AFTER UPDATE ON cvms
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at
        OR (OLD.compose_hash = NEW.compose_hash
            AND (OLD.name IS DISTINCT FROM NEW.name OR OLD.encrypted_env IS DISTINCT FROM NEW.encrypted_env
                 OR OLD.env_keys IS DISTINCT FROM NEW.env_keys OR OLD.user_config IS DISTINCT FROM NEW.user_config
                 OR OLD.vcpu IS DISTINCT FROM NEW.vcpu OR OLD.memory_mb IS DISTINCT FROM NEW.memory_mb
                 OR OLD.disk_gb IS DISTINCT FROM NEW.disk_gb OR OLD.image IS DISTINCT FROM NEW.image
                 OR OLD.instance_type IS DISTINCT FROM NEW.instance_type OR OLD.listed IS DISTINCT FROM NEW.listed
                 OR OLD.shutdown_timeout_s IS DISTINCT FROM NEW.shutdown_timeout_s
                 OR OLD.allow_force_stop IS DISTINCT FROM NEW.allow_force_stop)))
  EXECUTE FUNCTION cvm_events();

-- operations: queued (started), and ended (succeeded or failed). A change that needed no host work is inserted
-- already succeeded: both events, in one INSERT. pending -> running (a claim), a step, a lease: nothing.
CREATE FUNCTION operation_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  c record;
  base jsonb;
  ended jsonb;
BEGIN
  -- the CVM's row lock (see "Order" above), and the fields every CVM event carries
  SELECT id, vm_uuid, name, app_id, status INTO c FROM cvms WHERE id = NEW.cvm_id FOR NO KEY UPDATE;
  base := event_cvm_fields(c.id, c.vm_uuid, c.name, c.app_id, c.status) || jsonb_build_object(
    'correlation_id', NEW.correlation_id, 'kind', NEW.kind, 'operation_type', coalesce(NEW.params->>'operation_type', NEW.kind),
    'target_status', NEW.target_status, 'triggered_by', NEW.params->'triggered_by', 'reason', NEW.params->'reason');
  IF NEW.state = 'succeeded' THEN
    ended := jsonb_build_object('type', 'cvm.operation_succeeded', 'data', base || jsonb_build_object('step', NEW.step));
  ELSIF NEW.state = 'failed' THEN
    ended := jsonb_build_object('type', 'cvm.operation_failed', 'data', base || jsonb_build_object('step', NEW.step, 'error', NEW.error));
  END IF;
  IF TG_OP = 'INSERT' AND ended IS NULL THEN
    INSERT INTO events (workspace_id, cvm_id, app_id, type, data)
    VALUES (NEW.workspace_id, NEW.cvm_id, c.app_id, 'cvm.operation_started', base);
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO events (workspace_id, cvm_id, app_id, type, data)
    VALUES (NEW.workspace_id, NEW.cvm_id, c.app_id, 'cvm.operation_started', base),
           (NEW.workspace_id, NEW.cvm_id, c.app_id, ended->>'type', ended->'data');
  ELSE
    INSERT INTO events (workspace_id, cvm_id, app_id, type, data)
    VALUES (NEW.workspace_id, NEW.cvm_id, c.app_id, ended->>'type', ended->'data');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER operations_events_queued AFTER INSERT ON operations
  FOR EACH ROW EXECUTE FUNCTION operation_events();
CREATE TRIGGER operations_events_ended AFTER UPDATE OF state ON operations
  FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state AND NEW.state IN ('succeeded', 'failed'))
  EXECUTE FUNCTION operation_events();

-- revisions: a new compose hash on an existing CVM (an update, a rollback); a deploy's or a replica's first
-- revision is its cvm.created
CREATE FUNCTION revision_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  c record;
BEGIN
  SELECT id, vm_uuid, name, app_id, status INTO c FROM cvms WHERE id = NEW.cvm_id FOR NO KEY UPDATE;
  INSERT INTO events (workspace_id, cvm_id, app_id, type, data)
  VALUES (NEW.workspace_id, NEW.cvm_id, NEW.app_id, 'cvm.configuration_updated',
          event_cvm_fields(c.id, c.vm_uuid, c.name, c.app_id, c.status) || jsonb_build_object('compose_hash', NEW.compose_hash, 'revision_id', NEW.revision_id,
                                                     'operation_type', NEW.operation_type, 'correlation_id', NEW.correlation_id,
                                                     'triggered_by', NEW.triggered_by));
  RETURN NULL;
END
$$;

CREATE TRIGGER revisions_events AFTER INSERT ON revisions
  FOR EACH ROW WHEN (NEW.operation_type NOT IN ('create', 'replicate'))
  EXECUTE FUNCTION revision_events();

-- host_events: a host stopped answering, or answers again (the operator's events: no workspace)
CREATE FUNCTION host_event_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (workspace_id, cvm_id, app_id, type, data)
  SELECT NULL, NULL, NULL, CASE NEW.kind WHEN 'host_unreachable' THEN 'host.unreachable' ELSE 'host.recovered' END,
         NEW.details || jsonb_build_object('node_id', NEW.node_id, 'node_name', n.name, 'reason', NEW.reason)
    FROM nodes n WHERE n.id = NEW.node_id;
  RETURN NULL;
END
$$;

CREATE TRIGGER host_events_events AFTER INSERT ON host_events
  FOR EACH ROW WHEN (NEW.kind IN ('host_unreachable', 'host_recovered'))
  EXECUTE FUNCTION host_event_events();
