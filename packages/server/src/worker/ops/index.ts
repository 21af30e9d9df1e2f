/** Every operation kind the worker runs, by the `kind` recorded on the operation. */
import type { OperationKind } from '@opencvm/core';
import type { OperationModule } from '../context.ts';
import { create } from './create.ts';
import { remove } from './delete.ts';
import { refreshInstanceId } from './refresh-instance-id.ts';
import { restart } from './restart.ts';
import { start } from './start.ts';
import { shutdown, stop } from './stop.ts';
import { update } from './update.ts';

export const OPERATION_MODULES: Readonly<Record<OperationKind, OperationModule>> = {
  create,
  start,
  stop,
  shutdown,
  restart,
  delete: remove,
  update,
  refresh_instance_id: refreshInstanceId,
};
