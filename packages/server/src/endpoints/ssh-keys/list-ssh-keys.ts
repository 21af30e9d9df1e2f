import { listSshKeys } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** The caller's SSH keys, oldest first. */
export default route(listSshKeys, async ({ principal, services }) => services.sshKeys.list(principal));
