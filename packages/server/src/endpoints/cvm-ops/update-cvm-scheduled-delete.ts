import { updateCvmScheduledDelete } from '@opencvm/contract';
import { vmShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(updateCvmScheduledDelete, async ({ services, cvm, body }) =>
  vmShape(await services.cvmOps.scheduleDelete(cvm, body?.scheduled_delete_at)),
);
