import { listCvmOperations } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { operationShape } from '../../services/operations.ts';
import { listOperations } from '../../store/operations.ts';

export default route(listCvmOperations, async ({ services, cvm, query }) => ({
  items: (await listOperations(services.db, cvm.id, query.limit)).map(operationShape),
}));
