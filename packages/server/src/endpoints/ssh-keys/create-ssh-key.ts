import { createSshKey } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Add a validated OpenSSH public key (409 if the caller has it already). */
export default route(createSshKey, async ({ principal, services, body }) => services.sshKeys.add(principal, body));
