import { getCvmAttestation } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getCvmAttestation, async ({ services, cvm }) => services.cvmAttestation.cvm(cvm));
