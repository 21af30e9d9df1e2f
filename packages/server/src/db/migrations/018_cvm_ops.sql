-- A CVM's scheduled delete (`PATCH /cvms/{id}/scheduled-delete`): when it is to be deleted. The reconciler's
-- tick queues the delete of each live CVM whose time has passed and that has no operation in progress, in
-- one transaction per CVM under its row lock, and clears the time in the same transaction (queued once).
ALTER TABLE cvms ADD COLUMN scheduled_delete_at timestamptz;
CREATE INDEX cvms_scheduled_delete ON cvms (scheduled_delete_at) WHERE scheduled_delete_at IS NOT NULL AND deleted_at IS NULL;
