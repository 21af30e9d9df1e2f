import { deleteSshKey } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Delete one of the caller's keys (404 for any other id); 204, no body. */
export default route(deleteSshKey, async ({ principal, services, params }) => {
  await services.sshKeys.remove(principal, params.key_id);
  return undefined;
});
