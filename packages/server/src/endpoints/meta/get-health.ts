import { getHealth } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getHealth, async () => ({ status: 'ok' as const }));
