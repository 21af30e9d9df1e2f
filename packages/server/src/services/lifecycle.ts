/**
 * CVM lifecycle, as Phala Cloud's API has it: start, stop (force), shutdown (graceful), restart, delete,
 * replicate (`POST /cvms/{id}/start|stop|shutdown|restart`, `DELETE /cvms/{id}`, `POST /cvms/{id}/replicas`).
 * Each call checks the CVM's state, records an operation and returns at once; the worker drives the
 * host. One operation per CVM at a time: a second one gets 409 ERR-03-009 with a retry hint.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  ApiError,
  ErrorCodes,
  badRequest,
  notFound,
  type AppRecord,
  type CvmView,
  type commitReplicaBodySchema,
  type instanceBodySchema,
  type replicaBodySchema,
  type z,
} from '@opencvm/core';
import type { Db, Queryable } from '../db/index.ts';
import { appName } from '../store/apps.ts';
import { findCvm, findCvmById, insertReplica, isCvmNameTaken, isNameUniqueViolation, lockLiveCvm, readCvmRow, setCvmStatus, type CvmRow } from '../store/cvms.ts';
import { findNode, lockNode } from '../store/nodes.ts';
import { claimPendingUpdate, findPreparedReplica, insertPreparedReplica } from '../store/pending-updates.ts';
import { recordRevision } from '../store/revisions.ts';
import { lockWorkspace } from '../store/workspaces.ts';
import type { Principal } from './auth.ts';
import type { ChainService } from './chain.ts';
import { assertIdle, queueOperation, withBusyCheck } from './operations.ts';
import { gpuConfigOf, place, type GpuRequest } from './scheduler.ts';
import { chainName, keptChangeAnswer, type OnChainStatus } from './two-phase.ts';

export type ReplicaRequest = z.output<typeof replicaBodySchema>;
export type InstanceRequest = z.output<typeof instanceBodySchema>;

export type ReplicaCommit = z.output<typeof commitReplicaBodySchema>;

export type LifecycleKind = 'start' | 'stop' | 'shutdown' | 'restart' | 'delete';

/** How long a kept on-chain replica waits for its commit. */
const PENDING_TTL_MS = 14 * 24 * 3600 * 1000;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const isOnChain = (cvm: CvmView) => cvm.kms.kms_type !== 'phala';

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
    /** reads the contracts of on-chain KMS apps (their replicas' devices) */
    private readonly chain: ChainService,
    /** the server's public base URL, for the commit URLs of a 465 answer */
    private readonly publicUrl: () => string,
    private readonly pendingTtlMs = PENDING_TTL_MS,
  ) {}

  /** Queue a lifecycle operation on a CVM; answers with the CVM as it is now (transitional status). */
  async act(p: Principal, cvm: CvmView, kind: LifecycleKind, params: Record<string, unknown> = {}): Promise<CvmView> {
    const cvmId = await withBusyCheck(this.db, cvm.name, async (q) => {
      const row = await lockLiveCvm(q, cvm);
      await assertIdle(q, cvm.id, cvm.name);
      checkState(kind, { name: cvm.name, status: row.status });
      // a CVM with no VM (its first boot failed before the host had one, or its host lost it while it was
      // stopped) starts with a create, which looks for a VM labelled with its id first (never a second one)
      const opKind = kind === 'start' && !row.host_vm_id ? 'create' : kind;
      // who asked is kept with the operation (its events' triggered_by)
      await queue(q, p.workspaceId, cvm.id, opKind, { ...params, ...(opKind === kind ? {} : { find_vm: true }), triggered_by: p.userId });
      await setCvmStatus(q, cvm.id, TRANSITIONAL[kind]);
      return cvm.id;
    });
    this.onQueued();
    return (await findCvmById(this.db, cvmId))!;
  }

  /**
   * A new CVM with the source's app_id and configuration, on `node_id` or where the scheduler puts it. For an
   * on-chain KMS app, only on a device its contract allows (with the compose hash): otherwise, or with
   * `prepareOnly`, the replica is kept under a commit token and answered 465; `commitReplica` makes it.
   */
  async replicate(p: Principal, source: CvmView, req: ReplicaRequest, prepareOnly = false): Promise<CvmView> {
    return this.createReplica(p, source, {
      nodeId: req?.node_id ?? req?.teepod_id, encryptedEnv: req?.encrypted_env, composeHash: req?.compose_hash, prepareOnly,
      commitPath: `/api/v1/cvms/${source.vm_uuid}/commit-replica`,
    });
  }

  /**
   * `POST /apps/{app_id}/instances`: one more instance of an app, like its newest CVM. With `token`, the commit
   * of an on-chain KMS instance kept by an earlier call (as `POST /cvms/{id}/commit-replica`).
   */
  async addInstance(p: Principal, app: AppRecord, body: InstanceRequest, prepareOnly = false): Promise<CvmView> {
    const req = body ?? {};
    const appId = app.app_id;
    const source = await findCvm(this.db, p.workspaceId, { kind: 'app_id', value: appId });
    if (!source || source.app_id !== appId) throw notFound(ErrorCodes.CVM_NOT_FOUND, `App ${appId} has no CVM in this workspace to add an instance to.`);
    if (req.token) return this.commitReplica(p, source, { token: req.token, compose_hash: req.compose_hash, transaction_hash: req.transaction_hash }, true);
    if (req.docker_compose_file != null || req.pre_launch_script != null) {
      const compose = JSON.parse(source.app_compose) as { docker_compose_file?: string; pre_launch_script?: string };
      const same = (req.docker_compose_file ?? compose.docker_compose_file) === compose.docker_compose_file
        && (req.pre_launch_script ?? compose.pre_launch_script ?? '') === (compose.pre_launch_script ?? '');
      if (!same) {
        throw badRequest(ErrorCodes.INCOMPATIBLE_CONFIG,
          `A new instance runs the app's current compose (${source.compose_hash}); update the app's compose first, then add the instance.`);
      }
    }
    return this.createReplica(p, source, {
      nodeId: req.node_id, encryptedEnv: req.encrypted_env, composeHash: req.compose_hash, prepareOnly,
      commitPath: `/api/v1/apps/${appId}/instances`,
    });
  }

  /**
   * `POST /cvms/{id}/commit-replica` (and `POST /apps/{app_id}/instances` with `token`): make the replica of an
   * on-chain KMS app kept under the token, once its contract allows the app's compose hash (468) and the
   * replica's device (400 `ERR-01-011`). What counts is the contract now, so the transaction hash the CLI sends
   * (`already-registered` by default; it may be an `addDevice` or an `addComposeHash`) is not needed.
   */
  async commitReplica(p: Principal, source: CvmView, req: ReplicaCommit, viaInstances = false): Promise<CvmView> {
    if (!isOnChain(source)) {
      throw badRequest(ErrorCodes.INVALID_REQUEST,
        `CVM ${source.name}'s app uses the PHALA KMS, whose replicas are made at once: POST /cvms/${source.vm_uuid}/replicas (or POST /apps/${source.app_id}/instances) without X-Prepare-Only.`);
    }
    const invalid = (why: string) => badRequest(ErrorCodes.COMMIT_TOKEN_INVALID, why);
    const again = viaInstances ? `POST /apps/${source.app_id}/instances` : `POST /cvms/${source.vm_uuid}/replicas`;
    if (!req?.token) throw badRequest(ErrorCodes.INVALID_REQUEST, `token is required: the commit_token the 465 answer of ${again} gave.`);
    const kept = await findPreparedReplica(this.db, sha256(req.token), p.workspaceId);
    if (!kept) throw invalid(`This commit token is not valid: it was never issued for a replica in this workspace. Ask again with ${again}.`);
    if (kept.cvm_id !== source.id && !viaInstances) throw invalid(`This commit token was issued for a replica of another CVM, not ${source.name}.`);
    if (viaInstances && !(await this.sameApp(p, kept.cvm_id, source.app_id))) throw invalid(`This commit token was issued for another app, not ${source.app_id}.`);
    if (kept.used_at) throw invalid(`This commit token was already used at ${kept.used_at.toISOString()}: a token makes its replica once.`);
    if (kept.expires_at.getTime() <= Date.now()) throw invalid(`This commit token expired at ${kept.expires_at.toISOString()}: ask again with ${again}.`);
    if (req.compose_hash && req.compose_hash.replace(/^0x/, '').toLowerCase() !== kept.compose_hash) {
      throw badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED, `compose_hash ${req.compose_hash} is not the hash this token was issued for (${kept.compose_hash}).`);
    }
    if (source.compose_hash !== kept.compose_hash) {
      throw badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED,
        `App ${source.app_id}'s compose changed since this replica was asked for (now ${source.compose_hash}, then ${kept.compose_hash}): ask again with ${again}.`);
    }
    const node = await findNode(this.db, kept.replica.node_id);
    if (!node) throw badRequest(ErrorCodes.NODE_NOT_FOUND, `Node ${kept.replica.node_id} no longer exists: ask again with ${again}.`);
    const status = await this.onChainStatus(source, node.device_id);
    if (!status.composeHashAllowed) {
      throw new ApiError(468, ErrorCodes.HASH_NOT_ALLOWED,
        `compose_hash ${kept.compose_hash} is not allowed by app 0x${source.app_id}'s contract on ${chainName(source)}: add it with addComposeHash as the contract's owner, then commit again.`);
    }
    if (!status.deviceAllowed) {
      throw badRequest(ErrorCodes.DEVICE_NOT_ALLOWED,
        `Node ${node.name}'s device (device_id ${node.device_id}) is not allowed by app 0x${source.app_id}'s contract on ${chainName(source)}: add it with addDevice as the contract's owner (or setAllowAnyDevice), then commit again.`);
    }
    return this.insertReplica(p, source, { nodeId: node.id, encryptedEnv: kept.replica.encrypted_env, consumes: kept.id, spent: () => invalid('This commit token was already used: a token makes its replica once.') });
  }

  private async createReplica(
    p: Principal,
    source: CvmView,
    opts: { nodeId?: number | null; encryptedEnv?: string | null; composeHash?: string | null; prepareOnly: boolean; commitPath: string },
  ): Promise<CvmView> {
    if (opts.composeHash && opts.composeHash.replace(/^0x/, '').toLowerCase() !== source.compose_hash) {
      throw badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED,
        `compose_hash ${opts.composeHash} is not the app's current compose hash (${source.compose_hash}).`);
    }
    if (!isOnChain(source)) {
      if (opts.prepareOnly) {
        throw badRequest(ErrorCodes.INVALID_REQUEST,
          `X-Prepare-Only is for replicas of on-chain KMS apps; CVM ${source.name}'s app uses the PHALA KMS, whose replicas are made at once: send the request without it.`);
      }
      return this.insertReplica(p, source, { nodeId: opts.nodeId, encryptedEnv: opts.encryptedEnv });
    }
    // on-chain KMS: the node it goes to (asked for, or the scheduler's choice now) and what the app's contract says
    // of its device, read before anything is written; the transaction places it on that node again
    const src = (await readCvmRow(this.db, source.id))!;
    const { node } = await placeReplica(this.db, src, opts.nodeId, true);
    const status = await this.onChainStatus(source, node.device_id);
    if (opts.prepareOnly || !status.composeHashAllowed || !status.deviceAllowed) {
      const token = `ctk_${randomBytes(24).toString('base64url')}`;
      const encryptedEnv = opts.encryptedEnv ? opts.encryptedEnv.replace(/^0x/, '').toLowerCase() : null;
      const expires = await insertPreparedReplica(this.db, {
        workspace_id: p.workspaceId, cvm_id: source.id, compose_hash: source.compose_hash, base_hash: source.compose_hash,
        token_hash: sha256(token), replica: { node_id: node.id, encrypted_env: encryptedEnv }, created_by: p.userId,
        // what the contract must allow first (a cvm.update.pending_approval event); none for a prepare-only replica it allows
        awaiting: [...(status.composeHashAllowed ? [] : ['compose_hash' as const]), ...(status.deviceAllowed ? [] : ['device' as const])],
      }, this.pendingTtlMs);
      const until = expires.toISOString();
      const missing = [
        !status.composeHashAllowed && `compose_hash ${source.compose_hash} (addComposeHash)`,
        !status.deviceAllowed && `node ${node.name}'s device ${node.device_id} (addDevice, or setAllowAnyDevice)`,
      ].filter(Boolean);
      const message = missing.length
        ? `A replica of app 0x${source.app_id} on node ${node.name} needs its contract on ${chainName(source)} to allow ${missing.join(' and ')}; nothing was made. ` +
          `Add ${missing.length > 1 ? 'them' : 'it'} as the contract's owner, then POST ${opts.commitPath} with the commit_token before ${until}.`
        : `Prepared, not made: POST ${opts.commitPath} with the commit_token before ${until} makes the replica on node ${node.name}. The token works once.`;
      throw keptChangeAnswer({
        cvm: source, composeHash: source.compose_hash, deviceId: node.device_id, token, expires,
        commitUrl: `${this.publicUrl()}${opts.commitPath}`, message, onChain: status,
      });
    }
    return this.insertReplica(p, source, { nodeId: node.id, encryptedEnv: opts.encryptedEnv });
  }

  /** What an on-chain KMS app's contract allows of its compose hash and a device. */
  private async onChainStatus(source: CvmView, deviceId: string): Promise<OnChainStatus> {
    const app = await this.chain.app(source.kms, source.app_id, { composeHash: source.compose_hash, deviceId });
    return { composeHashAllowed: app.composeHashAllowed, deviceAllowed: app.allowAnyDevice || !!app.deviceAllowed };
  }

  /** Whether a CVM of the caller's workspace (a kept replica's source) runs this app. */
  private async sameApp(p: Principal, cvmId: number, appId: string): Promise<boolean> {
    const cvm = await findCvmById(this.db, cvmId);
    return !!cvm && cvm.workspace.id === p.workspaceId && cvm.app_id === appId;
  }

  /** The replica's row, its create operation and revision, in one transaction (consuming a kept replica if given). */
  private async insertReplica(
    p: Principal,
    source: CvmView,
    opts: { nodeId?: number | null; encryptedEnv?: string | null; consumes?: number; spent?: () => ApiError },
  ): Promise<CvmView> {
    const id = await this.db.tx(async (q) => {
      await lockWorkspace(q, p.workspaceId);
      if (opts.consumes !== undefined && !(await claimPendingUpdate(q, opts.consumes))) throw opts.spent!();
      const src = (await readCvmRow(q, source.id))!;
      // the capacity check holds the node's row, as a commit's does, so that a replica and a commit (of any
      // workspace) placed on the same node take turns
      if (opts.nodeId != null) await lockNode(q, opts.nodeId);
      let { node, gpuSlots } = await placeReplica(q, src, opts.nodeId, isOnChain(source));
      if (opts.nodeId == null) {
        await lockNode(q, node.id);
        ({ node, gpuSlots } = await placeReplica(q, src, node.id, isOnChain(source)));
      }
      const name = await replicaName(q, p.workspaceId, src.app_id, src.name);
      const id = await insertReplica(q, {
        vm_uuid: randomUUID(),
        creator_id: p.userId,
        name,
        node_id: node.id,
        gpus: gpuConfigOf(gpuSlots),
        encrypted_env: opts.encryptedEnv ? opts.encryptedEnv.replace(/^0x/, '').toLowerCase() : null,
        source_cvm_id: source.id,
      }).catch((e) => {
        // a commit (which does not take the workspace's lock) took the name meanwhile
        if (isNameUniqueViolation(e)) throw new ApiError(409, ErrorCodes.DUPLICATE_CVM_NAME, `Could not find a free name for a replica of ${src.name}: retry.`);
        throw e;
      });
      const op = await queueOperation(q, { workspaceId: p.workspaceId, cvmId: id, kind: 'create', target: 'running', params: { triggered_by: p.userId } });
      await recordRevision(q, { cvmId: id, userId: p.userId, operationType: 'replicate', operationId: op.id, correlationId: op.correlation_id });
      return id;
    });
    this.onQueued();
    return (await findCvmById(this.db, id))!;
  }
}

/**
 * Where a replica of `src` goes: `nodeId`, or the scheduler's choice (the node with the fewest CVMs of the app,
 * so replicas spread); it boots the source's image and gets as many GPUs, of the same products, as the source.
 */
async function placeReplica(
  q: Queryable,
  src: Pick<CvmRow, 'image' | 'vcpu' | 'memory_mb' | 'disk_gb' | 'app_id' | 'node_id' | 'gpu_slots'>,
  nodeId: number | null | undefined,
  /** the app's KMS is on a chain: only hosts that take on-chain KMS apps */
  onchainKms: boolean,
) {
  let gpus: GpuRequest | null = null;
  if (src.gpu_slots?.length) {
    const products = new Map(((await findNode(q, src.node_id))?.gpus ?? []).map((g) => [g.slot, g.product_id]));
    gpus = { want: src.gpu_slots.map((slot) => ({ product_id: products.get(slot) ?? null })) };
  }
  return place(q, { nodeId, image: src.image, vcpu: src.vcpu, memoryMb: src.memory_mb, diskGb: src.disk_gb, gpus, appId: src.app_id, onchainKms }).catch((e) => {
    if (e instanceof ApiError && e.code === ErrorCodes.OS_IMAGE_NOT_COMPATIBLE) {
      throw new ApiError(400, ErrorCodes.REPLICA_IMAGE_NOT_AVAILABLE, `${e.message} A replica must boot the source's image ${src.image}.`);
    }
    throw e;
  });
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
