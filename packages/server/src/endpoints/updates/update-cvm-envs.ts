import { updateCvmEnvs } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { acceptedInProgress } from '../../http/updates.ts';

export default route(updateCvmEnvs, async ({ services, principal, cvm, body }) => {
  const r = await services.updates.envs(principal, cvm, body);
  const a = acceptedInProgress(r);
  if (r.status === 'unchanged') return a;
  return { ...a, message: `${a.message} The sealed env was replaced as a whole: keys not in this encrypted_env are gone.` };
});
