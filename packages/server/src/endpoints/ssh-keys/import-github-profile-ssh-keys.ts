import { importGithubProfileSshKeys } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Import a GitHub profile's keys (400 within seconds when GitHub cannot be reached). */
export default route(importGithubProfileSshKeys, async ({ principal, services, body }) => services.sshKeys.importGithub(principal, body.github_username));
