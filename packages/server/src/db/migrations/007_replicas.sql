-- Several servers on one database.

-- the worker that holds a running operation's lease: a random id per worker start. Each worker holds a
-- session-level advisory lock keyed from its id while it runs, so another worker can tell a lease whose
-- holder is gone (its lock is free: take it over now) from one whose holder still works (wait for run_after)
ALTER TABLE operations ADD COLUMN lease_owner integer;
