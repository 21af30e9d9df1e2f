import { ErrorCodes, getCvmOperation, notFound } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { operationShape } from '../../services/operations.ts';
import { findOperation } from '../../store/operations.ts';

export default route(getCvmOperation, async ({ services, cvm, params }) => {
  const op = await findOperation(services.db, cvm.id, params.correlation_id);
  if (!op) throw notFound(ErrorCodes.CVM_NOT_FOUND, `CVM ${cvm.name} has no operation ${params.correlation_id}: list them with GET /cvms/${cvm.vm_uuid}/operations.`);
  return operationShape(op);
});
