import { getKmsOnChainDetail } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getKmsOnChainDetail, async ({ services, params }) => services.allowlists.kmsOnChainDetail(params.chain));
