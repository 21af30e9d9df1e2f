import { getCurrentUser } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getCurrentUser, async ({ principal: p, version }) => {
  if (version === '2025-10-28') {
    return { username: p.username, email: p.email, credits: 0, granted_credits: 0, avatar: '', team_name: p.workspaceName, team_tier: p.workspaceTier };
  }
  return {
    user: {
      username: p.username,
      email: p.email,
      role: p.role === 'admin' ? ('admin' as const) : ('user' as const),
      avatar: '',
      email_verified: true,
      totp_enabled: false,
      has_backup_codes: false,
      flag_has_password: false,
    },
    workspace: { id: String(p.workspaceId), name: p.workspaceName, slug: p.workspaceSlug, tier: p.workspaceTier, role: p.memberRole, avatar: null },
    credits: { balance: 0, granted_balance: 0, is_post_paid: true, outstanding_amount: null },
  };
});
