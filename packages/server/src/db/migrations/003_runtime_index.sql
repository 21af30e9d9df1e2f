-- The runtime reconciler reads, every few seconds, the CVMs that have a VM on a node: bounded by what a
-- host can hold, so with this index its queries stay cheap however many CVMs the store keeps.
CREATE INDEX cvms_node_hosted ON cvms (node_id) WHERE deleted_at IS NULL AND host_vm_id IS NOT NULL;
