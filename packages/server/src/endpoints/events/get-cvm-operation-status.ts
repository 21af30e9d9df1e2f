import { getCvmOperationStatus } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { operationStatus } from '../../services/events.ts';

export default route(getCvmOperationStatus, async ({ services, cvm }) => operationStatus(services.db, cvm));
