-- List reads at scale (GET /cvms/paginated, GET /apps): counts of live CVMs kept by triggers, so a page
-- never counts a workspace's CVMs (a count(*) over 100 000 rows costs more than the page itself).

-- live (not deleted) CVMs per (workspace, node, creator); creator_id 0 = none. A list's total is a sum
-- over a handful of these rows, whatever the filter (node_id, user_id).
CREATE TABLE cvm_counts (
  workspace_id  bigint NOT NULL,
  node_id       bigint NOT NULL,
  creator_id    bigint NOT NULL,
  n             integer NOT NULL,
  PRIMARY KEY (workspace_id, node_id, creator_id)
);
-- live CVMs of each app: GET /apps lists the apps that have one (newest first, from apps_live)
ALTER TABLE apps ADD COLUMN live_cvms integer NOT NULL DEFAULT 0;
CREATE INDEX apps_live ON apps (workspace_id, created_at DESC, app_id DESC) WHERE live_cvms > 0;
-- apps with a live CVM per workspace: GET /apps's total without filters
CREATE TABLE live_app_counts (
  workspace_id  bigint PRIMARY KEY,
  n             integer NOT NULL
);

INSERT INTO cvm_counts (workspace_id, node_id, creator_id, n)
  SELECT workspace_id, node_id, coalesce(creator_id, 0), count(*) FROM cvms WHERE deleted_at IS NULL GROUP BY 1, 2, 3;
UPDATE apps a SET live_cvms = l.n
  FROM (SELECT app_id, count(*) AS n FROM cvms WHERE deleted_at IS NULL GROUP BY app_id) l WHERE l.app_id = a.app_id;
INSERT INTO live_app_counts (workspace_id, n) SELECT workspace_id, count(*) FROM apps WHERE live_cvms > 0 GROUP BY 1;

-- counter rows are always taken in the same order (cvm_counts, apps, live_app_counts), so concurrent
-- writers queue rather than deadlock
CREATE FUNCTION cvms_count_live() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  left_live integer;
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.deleted_at IS NULL THEN
    UPDATE cvm_counts SET n = n - 1
     WHERE workspace_id = OLD.workspace_id AND node_id = OLD.node_id AND creator_id = coalesce(OLD.creator_id, 0);
    UPDATE apps SET live_cvms = live_cvms - 1 WHERE app_id = OLD.app_id RETURNING live_cvms INTO left_live;
    IF left_live = 0 THEN
      UPDATE live_app_counts SET n = n - 1 WHERE workspace_id = (SELECT workspace_id FROM apps WHERE app_id = OLD.app_id);
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.deleted_at IS NULL THEN
    INSERT INTO cvm_counts (workspace_id, node_id, creator_id, n) VALUES (NEW.workspace_id, NEW.node_id, coalesce(NEW.creator_id, 0), 1)
      ON CONFLICT (workspace_id, node_id, creator_id) DO UPDATE SET n = cvm_counts.n + 1;
    UPDATE apps SET live_cvms = live_cvms + 1 WHERE app_id = NEW.app_id RETURNING live_cvms INTO left_live;
    IF left_live = 1 THEN
      INSERT INTO live_app_counts (workspace_id, n) SELECT workspace_id, 1 FROM apps WHERE app_id = NEW.app_id
        ON CONFLICT (workspace_id) DO UPDATE SET n = live_app_counts.n + 1;
    END IF;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER cvms_count_live_rows AFTER INSERT OR DELETE ON cvms
  FOR EACH ROW EXECUTE FUNCTION cvms_count_live();
CREATE TRIGGER cvms_count_live_changes AFTER UPDATE OF deleted_at, workspace_id, node_id, creator_id, app_id ON cvms
  FOR EACH ROW
  WHEN (OLD.deleted_at IS DISTINCT FROM NEW.deleted_at OR OLD.workspace_id <> NEW.workspace_id OR OLD.node_id <> NEW.node_id
        OR OLD.creator_id IS DISTINCT FROM NEW.creator_id OR OLD.app_id <> NEW.app_id)
  EXECUTE FUNCTION cvms_count_live();
