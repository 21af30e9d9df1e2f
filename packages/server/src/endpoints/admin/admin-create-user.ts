import { adminCreateUser } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(adminCreateUser, async ({ services, body }) => services.members.createUser(body.username, body.email));
