import { syncGithubSshKeys } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Read again every GitHub account the caller imported keys from: add what is new, remove what is gone. */
export default route(syncGithubSshKeys, async ({ principal, services }) => services.sshKeys.syncGithub(principal));
