/** Reading CVMs for a workspace (the store is the source; no host call on the request path). */
import { ErrorCodes, notFound, parseCvmRef, type CvmView } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import { findCvm } from '../store/cvms.ts';
import type { Principal } from './auth.ts';

export class CvmService {
  constructor(private readonly db: Db) {}

  /** A CVM by any identifier form; another workspace's CVM is a 404 like a missing one. */
  async get(p: Principal, rawId: string): Promise<CvmView> {
    const cvm = await findCvm(this.db, p.workspaceId, parseCvmRef(decodeURIComponent(rawId)));
    if (!cvm) {
      throw notFound(ErrorCodes.CVM_NOT_FOUND, `CVM "${rawId}" was not found in this workspace: check the id, name, app_<app_id> or vm_uuid.`);
    }
    return cvm;
  }
}
