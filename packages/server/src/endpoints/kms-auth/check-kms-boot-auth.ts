import { checkKmsBootAuth } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(checkKmsBootAuth, async ({ req, services, params, body }) => {
  const { verdict, backendError } = await services.kmsAuth.check(params.kms_type, 'kms', body);
  if (backendError) req.log.warn({ kms_type: params.kms_type }, `KMS boot refused, the chain did not answer: ${backendError}`);
  return verdict;
});
