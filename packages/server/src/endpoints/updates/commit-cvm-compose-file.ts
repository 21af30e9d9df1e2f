import { commitCvmComposeFile } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { accepted } from '../../http/updates.ts';

/** Phala's documented `POST …/compose_file/commit`: the same as `PATCH …/compose_file`. */
export default route(commitCvmComposeFile, async ({ services, principal, cvm, body }) => accepted(await services.updates.commitCompose(principal, cvm, body)));
