-- Placement against allocated capacity. Each GPU of a host is given to one live CVM at a time: the slots a
-- CVM holds are the ones its `gpus` (dstack-vmm's VmConfiguration `gpus`, what CreateVm is sent) lists, kept
-- here as a JSON array of slot names so placement can read a host's taken slots without parsing configs.
ALTER TABLE cvms
  ADD COLUMN gpu_slots jsonb GENERATED ALWAYS AS (coalesce(jsonb_path_query_array(gpus, '$.gpus[*].slot'), '[]'::jsonb)) STORED;

-- What a host's live CVMs reserve (count, vCPU, memory, disk, GPU slots, per app for spreading replicas),
-- summed at every placement and at every commit's capacity check, without reading the CVMs' rows.
CREATE INDEX cvms_node_usage ON cvms (node_id) INCLUDE (vcpu, memory_mb, disk_gb, app_id) WHERE deleted_at IS NULL;
