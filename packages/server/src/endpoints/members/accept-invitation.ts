import { acceptInvitation } from '@opencvm/contract';
import { header, route } from '../../http/endpoint.ts';

/** Public: the invitation's token is the credential; an `X-API-Key`, if sent, names the user who joins. */
export default route(acceptInvitation, async ({ services, req, params, body }) => services.members.accept(params.token, header(req, 'x-api-key'), body));
