/**
 * CVM lifecycle, as Phala Cloud's API has it: start, stop (force), shutdown (graceful), restart, delete,
 * replicate (`POST /cvms/{id}/start|stop|shutdown|restart`, `DELETE /cvms/{id}`, `POST /cvms/{id}/replicas`).
 * Each call checks the CVM's state, records an operation and returns at once; the worker drives the
 * host. One operation per CVM at a time: a second one gets 409 ERR-03-009 with a retry hint.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  ApiError,
  ErrorCodes,
  badRequest,
  notFound,
  type AppRecord,
  type CvmView,
  type instanceBodySchema,
  type replicaBodySchema,
  type z,
} from '@opencvm/core';
import type { Db, Queryable } from '../db/index.ts';
import { appName } from '../store/apps.ts';
import { findCvm, findCvmById, insertReplica, isCvmNameTaken, isNameUniqueViolation, lockLiveCvm, readCvmRow, setCvmStatus } from '../store/cvms.ts';
import { lockNode } from '../store/nodes.ts';
import { recordRevision } from '../store/revisions.ts';
import { lockWorkspace } from '../store/workspaces.ts';
import type { Principal } from './auth.ts';
import { assertIdle, queueOperation, withBusyCheck } from './operations.ts';
import { place } from './scheduler.ts';

export type ReplicaRequest = z.output<typeof replicaBodySchema>;
export type InstanceRequest = z.output<typeof instanceBodySchema>;

export type LifecycleKind = 'start' | 'stop' | 'shutdown' | 'restart' | 'delete';

/** The status a CVM shows while an operation of this kind runs. */
const TRANSITIONAL: Record<LifecycleKind | 'create', string> = {
  create: 'starting',
  start: 'starting',
  stop: 'stopping',
  shutdown: 'stopping',
  restart: 'restarting',
  delete: 'deleting',
};
const TARGET: Record<LifecycleKind | 'create', string> = {
  create: 'running',
  start: 'running',
  stop: 'stopped',
  shutdown: 'stopped',
  restart: 'running',
  delete: 'deleted',
};

/** Which states each action makes sense in, and what to tell the user otherwise. */
function checkState(kind: LifecycleKind, cvm: { name: string; status: string }): void {
  const invalid = (why: string) => new ApiError(400, ErrorCodes.CVM_INVALID_STATE, why);
  const s = cvm.status;
  switch (kind) {
    case 'start':
      if (s === 'running') throw invalid(`CVM ${cvm.name} is already running: nothing to start.`);
      return;
    case 'stop':
      if (s === 'stopped') throw invalid(`CVM ${cvm.name} is already stopped: nothing to stop.`);
      return;
    case 'shutdown':
      if (s !== 'running') throw invalid(`CVM ${cvm.name} is ${s}, not running: a graceful shutdown needs a running CVM${s === 'exited' ? ' (use stop to clear an exited one)' : ''}.`);
      return;
    case 'restart':
      if (s === 'stopped' || s === 'error') throw invalid(`CVM ${cvm.name} is ${s}: use start, not restart.`);
      return;
    case 'delete':
      return;
  }
}

export class LifecycleService {
  constructor(
    private readonly db: Db,
    private readonly onQueued: () => void,
  ) {}

  /** Queue a lifecycle operation on a CVM; answers with the CVM as it is now (transitional status). */
  async act(p: Principal, cvm: CvmView, kind: LifecycleKind, params: Record<string, unknown> = {}): Promise<CvmView> {
    const cvmId = await withBusyCheck(this.db, cvm.name, async (q) => {
      const row = await lockLiveCvm(q, cvm);
      await assertIdle(q, cvm.id, cvm.name);
      checkState(kind, { name: cvm.name, status: row.status });
      // a CVM whose first boot failed before the host had a VM starts with a fresh create
      const opKind = kind === 'start' && !row.host_vm_id ? 'create' : kind;
      await queue(q, p.workspaceId, cvm.id, opKind, params);
      await setCvmStatus(q, cvm.id, TRANSITIONAL[kind]);
      return cvm.id;
    });
    this.onQueued();
    return (await findCvmById(this.db, cvmId))!;
  }

  /** A new CVM with the source's app_id and configuration, on `node_id` or where the scheduler puts it. */
  async replicate(p: Principal, source: CvmView, req: ReplicaRequest): Promise<CvmView> {
    return this.createReplica(p, source, { nodeId: req?.node_id ?? req?.teepod_id, encryptedEnv: req?.encrypted_env, composeHash: req?.compose_hash });
  }

  /** `POST /apps/{app_id}/instances`: one more instance of an app, like its newest CVM. */
  async addInstance(p: Principal, app: AppRecord, body: InstanceRequest): Promise<CvmView> {
    const req = body ?? {};
    const appId = app.app_id;
    const source = await findCvm(this.db, p.workspaceId, { kind: 'app_id', value: appId });
    if (!source || source.app_id !== appId) throw notFound(ErrorCodes.CVM_NOT_FOUND, `App ${appId} has no CVM in this workspace to add an instance to.`);
    if (req.docker_compose_file != null || req.pre_launch_script != null) {
      const compose = JSON.parse(source.app_compose) as { docker_compose_file?: string; pre_launch_script?: string };
      const same = (req.docker_compose_file ?? compose.docker_compose_file) === compose.docker_compose_file
        && (req.pre_launch_script ?? compose.pre_launch_script ?? '') === (compose.pre_launch_script ?? '');
      if (!same) {
        throw badRequest(ErrorCodes.INCOMPATIBLE_CONFIG,
          `A new instance runs the app's current compose (${source.compose_hash}); update the app's compose first, then add the instance.`);
      }
    }
    return this.createReplica(p, source, { nodeId: req.node_id, encryptedEnv: req.encrypted_env, composeHash: req.compose_hash });
  }

  private async createReplica(
    p: Principal,
    source: CvmView,
    opts: { nodeId?: number | null; encryptedEnv?: string | null; composeHash?: string | null },
  ): Promise<CvmView> {
    if (opts.composeHash && opts.composeHash.replace(/^0x/, '').toLowerCase() !== source.compose_hash) {
      throw badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED,
        `compose_hash ${opts.composeHash} is not the app's current compose hash (${source.compose_hash}).`);
    }
    const id = await this.db.tx(async (q) => {
      await lockWorkspace(q, p.workspaceId);
      const src = (await readCvmRow(q, source.id))!;
      const placeOn = (nodeId: number | null | undefined) =>
        place(q, { nodeId, image: src.image, vcpu: src.vcpu, memoryMb: src.memory_mb, gpu: false }).catch((e) => {
          if (e instanceof ApiError && e.code === ErrorCodes.OS_IMAGE_NOT_COMPATIBLE) {
            throw new ApiError(400, ErrorCodes.REPLICA_IMAGE_NOT_AVAILABLE, `${e.message} A replica must boot the source's image ${src.image}.`);
          }
          throw e;
        });
      // the capacity check holds the node's row, as a commit's does, so that a replica and a commit (of any
      // workspace) placed on the same node take turns
      if (opts.nodeId != null) await lockNode(q, opts.nodeId);
      let { node } = await placeOn(opts.nodeId);
      if (opts.nodeId == null) {
        await lockNode(q, node.id);
        ({ node } = await placeOn(node.id));
      }
      const name = await replicaName(q, p.workspaceId, src.app_id, src.name);
      const id = await insertReplica(q, {
        vm_uuid: randomUUID(),
        creator_id: p.userId,
        name,
        node_id: node.id,
        encrypted_env: opts.encryptedEnv ? opts.encryptedEnv.replace(/^0x/, '').toLowerCase() : null,
        source_cvm_id: source.id,
      }).catch((e) => {
        // a commit (which does not take the workspace's lock) took the name meanwhile
        if (isNameUniqueViolation(e)) throw new ApiError(409, ErrorCodes.DUPLICATE_CVM_NAME, `Could not find a free name for a replica of ${src.name}: retry.`);
        throw e;
      });
      const op = await queueOperation(q, { workspaceId: p.workspaceId, cvmId: id, kind: 'create', target: 'running' });
      await recordRevision(q, { cvmId: id, userId: p.userId, operationType: 'replicate', operationId: op.id, correlationId: op.correlation_id });
      return id;
    });
    this.onQueued();
    return (await findCvmById(this.db, id))!;
  }
}

async function queue(q: Queryable, workspaceId: number, cvmId: number, kind: string, params: Record<string, unknown>) {
  await queueOperation(q, { workspaceId, cvmId, kind, target: TARGET[kind as LifecycleKind] ?? 'running', params });
}

/**
 * `<app name>-<4 hex>`, kept within the 63-character hostname limit and free in the workspace. The base is
 * the app's name (`apps.name`, what its first CVM was called), not the source CVM's, so replicating a
 * replica gives `myapp-7de9`, not `myapp-425d-7de9`.
 */
async function replicaName(q: Queryable, workspaceId: number, appId: string, sourceName: string): Promise<string> {
  const base = ((await appName(q, appId)) || sourceName).slice(0, 58).replace(/-+$/, '');
  for (let i = 0; i < 8; i++) {
    const name = `${base}-${randomBytes(2).toString('hex')}`;
    if (!(await isCvmNameTaken(q, workspaceId, name))) return name;
  }
  throw new ApiError(409, ErrorCodes.DUPLICATE_CVM_NAME, `Could not find a free name for a replica of app ${base}: retry.`);
}
