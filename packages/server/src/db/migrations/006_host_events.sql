-- What opencvm did on a host on its own, outside any operation a user asked for, kept so an operator (and,
-- later, an events API) can see it: one row per action, never updated. The first kind is
-- `orphan_vm_removed`: the runtime reconciler removed a VM that opencvm had created (its name carries this
-- installation's label) but that no CVM owns any more. `reason` says why, for a person; `details` holds
-- what the host reported of the VM (name, status) and what the CVM row said.
CREATE TABLE host_events (
  id          bigserial PRIMARY KEY,
  node_id     bigint NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
  host_vm_id  text,                        -- the host's id of the VM concerned, if any
  cvm_id      bigint REFERENCES cvms(id),  -- the CVM the VM was created for, if it still has a row
  kind        text NOT NULL,
  reason      text NOT NULL,
  details     jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX host_events_node ON host_events (node_id, created_at DESC, id DESC);
CREATE INDEX host_events_vm ON host_events (node_id, host_vm_id) WHERE host_vm_id IS NOT NULL;
CREATE INDEX host_events_cvm ON host_events (cvm_id, created_at DESC) WHERE cvm_id IS NOT NULL;
