-- A CVM's watched state (GET /cvms/{id}/state and its event stream) changes: NOTIFY cvm_state with the CVM's
-- internal id, from triggers, so that no writer (API, worker, reconciler, of any replica) can forget it.
-- NOTIFY is transactional: listeners get it once the change is committed, never for a rolled-back one, and
-- PostgreSQL sends a notification repeated within one transaction (same channel, same id) only once.
-- Each server keeps one connection that LISTENs (services/state-hub.ts) and reads a CVM's state only when
-- this fires for a CVM someone watches.
--
-- What the state shows: the cvms columns below (the row's name, status, ids, boot/shutdown progress, start
-- and exit times, deletion, workspace), and whether the CVM has an active operation (pending or running) and
-- which. A CVM's INSERT is not announced: a CVM can only be watched once it exists, and a watch starts with
-- a read. Everything else a writer changes (runtime snapshots, configuration, leases) is not announced either.

CREATE FUNCTION cvm_state_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'cvms' THEN
    PERFORM pg_notify('cvm_state', coalesce(NEW.id, OLD.id)::text);
  ELSE
    IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('cvm_state', OLD.cvm_id::text); END IF;
    IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('cvm_state', NEW.cvm_id::text); END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER cvms_state_changes AFTER UPDATE ON cvms
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.name IS DISTINCT FROM NEW.name OR OLD.vm_uuid IS DISTINCT FROM NEW.vm_uuid
        OR OLD.instance_id IS DISTINCT FROM NEW.instance_id OR OLD.boot_progress IS DISTINCT FROM NEW.boot_progress
        OR OLD.boot_error IS DISTINCT FROM NEW.boot_error OR OLD.shutdown_progress IS DISTINCT FROM NEW.shutdown_progress
        OR OLD.started_at IS DISTINCT FROM NEW.started_at OR OLD.exited_at IS DISTINCT FROM NEW.exited_at
        OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at OR OLD.workspace_id IS DISTINCT FROM NEW.workspace_id)
  EXECUTE FUNCTION cvm_state_notify();
CREATE TRIGGER cvms_state_removed AFTER DELETE ON cvms
  FOR EACH ROW EXECUTE FUNCTION cvm_state_notify();

-- an operation shows in its CVM's state while it is active (pending or running); pending -> running changes
-- nothing there, nor does a lease renewal or a step
CREATE TRIGGER operations_state_added AFTER INSERT ON operations
  FOR EACH ROW WHEN (NEW.state IN ('pending', 'running'))
  EXECUTE FUNCTION cvm_state_notify();
CREATE TRIGGER operations_state_changes AFTER UPDATE ON operations
  FOR EACH ROW
  WHEN ((OLD.state IN ('pending', 'running')) IS DISTINCT FROM (NEW.state IN ('pending', 'running'))
        OR (NEW.state IN ('pending', 'running')
            AND (OLD.cvm_id IS DISTINCT FROM NEW.cvm_id OR OLD.kind IS DISTINCT FROM NEW.kind
                 OR OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.correlation_id IS DISTINCT FROM NEW.correlation_id)))
  EXECUTE FUNCTION cvm_state_notify();
CREATE TRIGGER operations_state_removed AFTER DELETE ON operations
  FOR EACH ROW WHEN (OLD.state IN ('pending', 'running'))
  EXECUTE FUNCTION cvm_state_notify();
