-- Desired state against observed state (services/runtime.ts, the reconciler).
--
-- A host that stopped answering: after a few consecutive reconcile ticks whose Status call failed, the node is
-- marked `unreachable` (placement only takes `online` nodes), with when that started and the last error; the
-- first tick it answers again puts it back `online`. Both are recorded in host_events.
ALTER TABLE nodes
  ADD COLUMN unreachable_since timestamptz,
  ADD COLUMN last_error text;

-- What the owner of a CVM asked for last: `running` (deploy, replica, start, restart) or `stopped` (stop,
-- shutdown). Set by the trigger below in the transaction that queues the operation, whoever queues it, so
-- no code path can forget it; an update or an instance-id refresh keeps it. The reconciler brings the host
-- back to it: a VM the host lost is created again, a VM found stopped or exited is started again.
--
-- recovery_attempts: recovery operations the reconciler queued since the CVM last booted to `done` (or its
-- owner last asked for a boot); recover_after: when the next one may be queued (the backoff), null while
-- nothing needs recovering.
ALTER TABLE cvms
  ADD COLUMN desired_state text NOT NULL DEFAULT 'running' CHECK (desired_state IN ('running', 'stopped')),
  ADD COLUMN recovery_attempts integer NOT NULL DEFAULT 0,
  ADD COLUMN recover_after timestamptz;

UPDATE cvms SET desired_state = 'stopped' WHERE status IN ('stopped', 'stopping') AND deleted_at IS NULL;

CREATE FUNCTION cvm_desired_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.kind IN ('create', 'start', 'restart') THEN
    -- a boot its owner asked for starts the recovery count afresh; one the reconciler queued does not
    -- (only a row that changes is written: a deploy's CVM, inserted in the same statement, already reads so)
    UPDATE cvms SET desired_state = 'running', recover_after = NULL,
           recovery_attempts = CASE WHEN NEW.params ? 'recovery' THEN recovery_attempts ELSE 0 END
     WHERE id = NEW.cvm_id
       AND (desired_state <> 'running' OR recover_after IS NOT NULL OR (recovery_attempts <> 0 AND NOT NEW.params ? 'recovery'));
  ELSIF NEW.kind IN ('stop', 'shutdown') THEN
    UPDATE cvms SET desired_state = 'stopped', recover_after = NULL, recovery_attempts = 0
     WHERE id = NEW.cvm_id AND (desired_state <> 'stopped' OR recover_after IS NOT NULL OR recovery_attempts <> 0);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER operations_desired_state AFTER INSERT ON operations
  FOR EACH ROW WHEN (NEW.state IN ('pending', 'running'))
  EXECUTE FUNCTION cvm_desired_state();
