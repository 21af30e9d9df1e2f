import { updateCvmEnvs } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { accepted } from '../../http/updates.ts';

export default route(updateCvmEnvs, async ({ services, principal, cvm, body }) => {
  const a = accepted(await services.updates.envs(principal, cvm, body));
  return { ...a, message: `${a.message} The sealed env was replaced as a whole: keys not in this encrypted_env are gone.` };
});
