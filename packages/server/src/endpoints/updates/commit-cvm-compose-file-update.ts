import { commitCvmComposeFileUpdate } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { accepted } from '../../http/updates.ts';

/** The official SDK's `commitCvmComposeFileUpdate` (`PATCH …/compose_file`). */
export default route(commitCvmComposeFileUpdate, async ({ services, principal, cvm, body }) => accepted(await services.updates.commitCompose(principal, cvm, body)));
