-- Workspace members and invitations. A member's role is one of owner, admin, member (Phala Cloud's) or viewer
-- (read-only, opencvm's); an API key acts with its user's current role in its workspace, read at every request
-- with the key (a removed member's keys stop at once).
ALTER TABLE workspace_members ADD COLUMN joined_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE workspace_members ADD CONSTRAINT workspace_members_role CHECK (role IN ('owner', 'admin', 'member', 'viewer'));
-- GET /workspaces: the workspaces of a user
CREATE INDEX workspace_members_user ON workspace_members (user_id);
-- the user a workspace was created for (`is_creator` in the member list)
ALTER TABLE workspaces ADD COLUMN creator_id bigint REFERENCES users(id) ON DELETE SET NULL;

-- An invitation: a secret token (stored as its SHA-256 only, like API keys) that makes whoever accepts it a
-- member with `role`. A direct one (email set) is used once; a shareable one (email null) any number of times,
-- until it expires or is cancelled.
CREATE TABLE invitations (
  id            bigserial PRIMARY KEY,
  workspace_id  bigint NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  email         text,
  role          text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
  shareable     boolean NOT NULL DEFAULT false,
  token_hash    text NOT NULL UNIQUE,
  token_prefix  text NOT NULL,
  inviter_id    bigint REFERENCES users(id) ON DELETE SET NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  accepted_at   timestamptz,
  accepted_by   bigint REFERENCES users(id) ON DELETE SET NULL,
  accept_count  integer NOT NULL DEFAULT 0,
  cancelled_at  timestamptz
);
-- GET /workspaces/{slug}/invitations: the pending ones, newest first
CREATE INDEX invitations_pending ON invitations (workspace_id, id DESC) WHERE accepted_at IS NULL AND cancelled_at IS NULL;
-- one pending direct invitation per email and workspace
CREATE UNIQUE INDEX invitations_one_pending_email ON invitations (workspace_id, lower(email))
  WHERE email IS NOT NULL AND accepted_at IS NULL AND cancelled_at IS NULL;
