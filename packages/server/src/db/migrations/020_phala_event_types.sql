-- Phala Cloud's webhook event types (Phala Cloud's webhooks documentation), recorded beside opencvm's own, each
-- in the transaction of the change it describes and under the CVM's row lock (the order of 016_events.sql):
--
--   cvm.created                  the CVM's first deployment completed: its first `create` operation to succeed
--                                (before this migration: when the CVM's record was inserted at the commit; that
--                                moment is the create's cvm.operation_started)
--   cvm.create_failed            a `create` operation failed while the CVM was never deployed (boot error,
--                                timeout): + error, the operation's error
--   cvm.started                  a `start` operation succeeded, or a `create` of a CVM deployed before (a start of
--                                a CVM whose VM is gone, a recovery that creates it again)
--   cvm.restarted                a `restart` operation succeeded
--   cvm.stopped                  a `stop` or a `shutdown` operation succeeded
--   cvm.updated                  an `update` operation succeeded (an update, a redeploy, a rollback), unless it
--                                changed nothing
--   cvm.deleted                  unchanged (016_events.sql)
--   cvm.update.pending_approval  a change of an on-chain KMS CVM kept because its app's contract must first allow
--                                its compose hash (or, for a replica, the device): a `pending_updates` row whose
--                                `awaiting` names what the contract must allow; a prepare-only change the contract
--                                already allows is kept without one
--
-- Data: the fields of every CVM event (event_cvm_fields: cvm_id, vm_uuid, name, app_id, status, the CVM's status
-- once the change is made), and
--   operation events (all but pending_approval)  + correlation_id, kind, operation_type, triggered_by
--   cvm.created                  + node_id, compose_hash, instance_type, vcpu, memory_mb, disk_gb, image,
--                                  source_cvm_id (a replica's source)
--   cvm.create_failed            + error
--   cvm.update.pending_approval  + compose_hash (the hash the change leads to), awaiting (`compose_hash`,
--                                  `device`), pending (`update`, or `replica`: the CVM is the replica's source),
--                                  device_id (a replica's device), expires_at (until when the change is kept)
-- A webhook delivery's data names the CVM as Phala Cloud's webhooks do: cvm_id is its vm_uuid, cvm_name its name
-- (services/webhook-delivery.ts).

-- the record's insertion is no longer cvm.created
DROP TRIGGER cvms_events_created ON cvms;

CREATE OR REPLACE FUNCTION operation_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  c record;
  base jsonb;
  ended jsonb;
  phala text;
  phala_data jsonb;
  deployed boolean;
BEGIN
  -- the CVM's row lock (016_events.sql, "Order"), and the fields every CVM event carries
  SELECT id, vm_uuid, name, app_id, status, node_id, compose_hash, instance_type, vcpu, memory_mb, disk_gb, image, source_cvm_id
    INTO c FROM cvms WHERE id = NEW.cvm_id FOR NO KEY UPDATE;
  base := event_cvm_fields(c.id, c.vm_uuid, c.name, c.app_id, c.status) || jsonb_build_object(
    'correlation_id', NEW.correlation_id, 'kind', NEW.kind, 'operation_type', coalesce(NEW.params->>'operation_type', NEW.kind),
    'target_status', NEW.target_status, 'triggered_by', NEW.params->'triggered_by', 'reason', NEW.params->'reason');
  IF NEW.state = 'succeeded' THEN
    ended := jsonb_build_object('type', 'cvm.operation_succeeded', 'data', base || jsonb_build_object('step', NEW.step));
  ELSIF NEW.state = 'failed' THEN
    ended := jsonb_build_object('type', 'cvm.operation_failed', 'data', base || jsonb_build_object('step', NEW.step, 'error', NEW.error));
  END IF;

  -- Phala Cloud's type for an operation's end, if it has one
  IF NEW.kind = 'create' AND NEW.state IN ('succeeded', 'failed') THEN
    deployed := EXISTS (SELECT 1 FROM operations o WHERE o.cvm_id = NEW.cvm_id AND o.kind = 'create' AND o.state = 'succeeded' AND o.id <> NEW.id);
    IF NEW.state = 'succeeded' THEN
      phala := CASE WHEN deployed THEN 'cvm.started' ELSE 'cvm.created' END;
    ELSIF NOT deployed THEN
      phala := 'cvm.create_failed';
    END IF;
  ELSIF NEW.state = 'succeeded' THEN
    phala := CASE NEW.kind
      WHEN 'start' THEN 'cvm.started'
      WHEN 'restart' THEN 'cvm.restarted'
      WHEN 'stop' THEN 'cvm.stopped'
      WHEN 'shutdown' THEN 'cvm.stopped'
      WHEN 'update' THEN CASE WHEN NEW.step IS DISTINCT FROM 'unchanged' THEN 'cvm.updated' END
    END;
  END IF;
  IF phala IS NOT NULL THEN
    phala_data := event_cvm_fields(c.id, c.vm_uuid, c.name, c.app_id, c.status) || jsonb_build_object(
      'correlation_id', NEW.correlation_id, 'kind', NEW.kind, 'operation_type', coalesce(NEW.params->>'operation_type', NEW.kind),
      'triggered_by', NEW.params->'triggered_by');
    IF phala = 'cvm.created' THEN
      phala_data := phala_data || jsonb_build_object('node_id', c.node_id, 'compose_hash', c.compose_hash, 'instance_type', c.instance_type,
                                                     'vcpu', c.vcpu, 'memory_mb', c.memory_mb, 'disk_gb', c.disk_gb, 'image', c.image,
                                                     'source_cvm_id', c.source_cvm_id);
    ELSIF phala = 'cvm.create_failed' THEN
      phala_data := phala_data || jsonb_build_object('error', NEW.error);
    END IF;
  END IF;

  -- one INSERT: started (a queued operation), ended (an operation that ended, or was inserted ended), then Phala's
  INSERT INTO events (workspace_id, cvm_id, app_id, type, data)
  SELECT NEW.workspace_id, NEW.cvm_id, c.app_id, e.t, e.d
    FROM (VALUES (1, CASE WHEN TG_OP = 'INSERT' THEN 'cvm.operation_started' END, base),
                 (2, ended->>'type', ended->'data'),
                 (3, phala, phala_data)) AS e(n, t, d)
   WHERE e.t IS NOT NULL
   ORDER BY e.n;
  RETURN NULL;
END
$$;

-- pending_updates: what an on-chain KMS app's contract must allow before the kept change can be made (null or
-- empty: nothing, e.g. a prepare-only change the contract already allows, or a compose-file provision)
ALTER TABLE pending_updates ADD COLUMN awaiting text[];

CREATE FUNCTION pending_update_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  c record;
BEGIN
  SELECT id, vm_uuid, name, app_id, status INTO c FROM cvms WHERE id = NEW.cvm_id FOR NO KEY UPDATE;
  INSERT INTO events (workspace_id, cvm_id, app_id, type, data)
  VALUES (NEW.workspace_id, NEW.cvm_id, c.app_id, 'cvm.update.pending_approval',
          event_cvm_fields(c.id, c.vm_uuid, c.name, c.app_id, c.status) || jsonb_build_object(
            'compose_hash', NEW.compose_hash, 'awaiting', to_jsonb(NEW.awaiting),
            'pending', CASE NEW.kind WHEN 'prepared_replica' THEN 'replica' ELSE 'update' END,
            'device_id', CASE WHEN NEW.kind = 'prepared_replica'
                              THEN (SELECT n.device_id FROM nodes n WHERE n.id = (NEW.change->>'node_id')::bigint) END,
            'expires_at', NEW.expires_at,
            'triggered_by', NEW.created_by));
  RETURN NULL;
END
$$;

CREATE TRIGGER pending_updates_events AFTER INSERT ON pending_updates
  FOR EACH ROW WHEN (cardinality(NEW.awaiting) > 0)
  EXECUTE FUNCTION pending_update_events();
