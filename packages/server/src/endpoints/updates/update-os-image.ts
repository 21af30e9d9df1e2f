import { updateOsImage } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { accepted } from '../../http/updates.ts';

export default route(updateOsImage, async ({ services, principal, cvm, body }) => accepted(await services.updates.osImage(principal, cvm, body)));
