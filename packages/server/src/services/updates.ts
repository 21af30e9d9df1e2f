/**
 * Configuration updates, as Phala Cloud's API has them (`PATCH /cvms/{id}` and its prepare-only/commit form,
 * `/resources`, `/visibility`, `/os-image`, `/envs`, `/docker-compose`, `/pre-launch-script`, the compose-file
 * provision and commit, revisions and rollback). Every endpoint turns its request into one `ConfigPatch`
 * and hands it to `submit`, which, in one transaction: finds the CVM (workspace-scoped), refuses if
 * another operation runs (409), plans the change (core `planChange`), checks it against the node
 * (capacity, image), and either records it at once (control-plane-only fields such as `listed`) or
 * queues an `update` operation. The worker then stops the CVM, applies the change on the host (UpdateVm),
 * records the new configuration (and a revision if the compose hash moved) and starts it. A change that
 * changes nothing (the same deploy again) does nothing: it records a `succeeded` operation (step
 * `unchanged`) whose correlation id the answer carries.
 *
 * Two-phase forms keep the validated patch in `pending_updates` for 14 days: a compose-file provision
 * (found again by CVM + compose hash) and a prepare-only PATCH (found by its one-time commit token).
 *
 * On-chain KMS (ETHEREUM, BASE): a change that moves the compose hash of such a CVM is applied only if the app's
 * contract allows the new hash (its `allowedComposeHashes`), since the KMS releases the app's keys only for an
 * allowed hash. The chain is read before the transaction (a chain that does not answer is a 503 and nothing is
 * written); a hash not allowed yet keeps the change like a prepare-only PATCH and answers HTTP 465 with what
 * the owner needs to register it (`addComposeHash`). The confirmation (`X-Compose-Hash` + `X-Transaction-Hash`,
 * or the commit token) reads the transaction's receipt and the contract again before applying: 466 no such
 * change (or expired), 467 the transaction does not prove the hash was added to that app, 468 not allowed now.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  ApiError,
  DEFAULT_INSTANCE_TYPES,
  ErrorCodes,
  badRequest,
  conflict,
  UNIFIED_PATCH_FIELDS,
  buildAppCompose,
  kmsInfo,
  notFound,
  parseCvmRef,
  planChange,
  unchangedMessage,
  type composeCommitSchema,
  type composeProvisionSchema,
  type envsPatchSchema,
  type legacyComposeSchema,
  type osImagePatchSchema,
  type resourcesPatchSchema,
  type rollbackBodySchema,
  type unifiedPatchSchema,
  type visibilityPatchSchema,
  type z,
  type ConfigPatch,
  type CvmConfig,
  type CvmView,
  type PlannedChange,
} from '@opencvm/core';
import type { Db, Queryable } from '../db/index.ts';
import { applyConfig, configOf } from '../store/cvm-config.ts';
import { findCvm, findCvmById, listCvmsOfApps, lockLiveCvm, setCvmStatus } from '../store/cvms.ts';
import { cpuImagesOfNode, imagesOfNode, lockNode, nodeUsageExcept } from '../store/nodes.ts';
import {
  claimPendingUpdate,
  findPreparedPatch,
  insertComposeProvision,
  insertPreparedPatch,
  latestComposeProvision,
  preparedPatchFor,
} from '../store/pending-updates.ts';
import { countRevisions, findRevision, listRevisions, recordRevision, type RevisionListing } from '../store/revisions.ts';
import type { Principal } from './auth.ts';
import type { ChainService } from './chain.ts';
import { chainName, keptChangeAnswer } from './two-phase.ts';
import { assertIdle, busy, queueOperation, withBusyCheck } from './operations.ts';

export type UnifiedPatch = z.output<typeof unifiedPatchSchema>;
export type ResourcesPatch = z.output<typeof resourcesPatchSchema>;
export type VisibilityPatch = z.output<typeof visibilityPatchSchema>;
export type OsImagePatch = z.output<typeof osImagePatchSchema>;
export type EnvsPatch = z.output<typeof envsPatchSchema>;
export type LegacyCompose = z.output<typeof legacyComposeSchema>;
export type ComposeProvision = z.output<typeof composeProvisionSchema>;
export type ComposeCommit = z.output<typeof composeCommitSchema>;
export type RollbackRequest = z.output<typeof rollbackBodySchema>;

/** What the worker's `update` operation carries. */
export interface UpdateParams {
  triggered_by?: number;
  /** the configuration to reach, and the one it replaces (to know what to tell the host) */
  next: CvmConfig;
  previous: CvmConfig;
  /** what the revision (if any) is recorded as */
  operation_type: string;
  /** boot the CVM again afterwards (it was running, or a boot was under way) */
  restart: boolean;
}

export interface SubmitResult {
  correlation_id: string;
  /**
   * `in_progress`: the worker applies it (restart); `applied`: recorded at once, nothing to restart;
   * `unchanged`: the CVM already had this configuration, nothing was done (a `succeeded` operation says so)
   */
  status: 'in_progress' | 'applied' | 'unchanged';
  compose_hash: string;
  allowed_envs_changed: boolean;
  message: string;
  cvm_id: number;
}

/**
 * The confirmation of an on-chain KMS update: the compose hash the change leads to, and the transaction that
 * added it to the app's contract, or `already-registered` (the contract is read, no transaction checked).
 */
export interface Confirmation {
  composeHash: string;
  transactionHash: string;
}

/** The transaction hash that means "it is on the chain already: read the contract only". */
export const ALREADY_REGISTERED = 'already-registered';

/** What an on-chain KMS app's contract said about a change's new compose hash, read before its transaction. */
interface ChainVerdict {
  hash: string;
  composeHashAllowed: boolean;
  deviceAllowed: boolean;
  owner: string;
}

interface SubmitOptions {
  /** recorded on the revision: update | compose_update | env_update | rollback | ... */
  operationType: string;
  /** `false` refuses a change that needs a restart while the CVM runs */
  allowRestart?: boolean;
  /** keep the validated change under a one-time commit token instead of applying it */
  prepareOnly?: boolean;
  /** the CVM must still be on this compose hash (two-phase commits) */
  baseHash?: string;
  /**
   * a pending_updates row this submit consumes: marked used in the same transaction, first thing under
   * the CVM's row lock, so that of two concurrent commits the second gets `spent()` (not a 409, and never a second apply)
   */
  consumes?: { id: number; spent: () => ApiError };
  /** on-chain KMS: the compose hash the change leads to was proven allowed on the chain just before (a confirmation or commit) */
  chainChecked?: string;
  /** the status of the answer when the CVM moved on since the change was prepared (default 400) */
  staleStatus?: number;
  /**
   * on-chain KMS, in the 465 answer: how this request carries the confirmation when sent again (default: the
   * headers of `PATCH /cvms/{id}` and the body fields of `PATCH /cvms/{id}/envs`)
   */
  confirmWith?: string;
}

const CONFIRM_BY_HEADERS = 'the compose hash and the transaction\'s hash (headers X-Compose-Hash and X-Transaction-Hash; compose_hash and transaction_hash in the body of PATCH /cvms/{id}/envs)';
const CONFIRM_BY_QUERY = 'the transaction\'s hash as ?transaction_hash= (or "already-registered" once the contract allows it)';

/** States a configuration update can start from. */
const UPDATABLE = new Set(['running', 'stopped', 'exited']);
const PENDING_TTL_MS = 14 * 24 * 3600 * 1000;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const normHash = (h: string) => h.replace(/^0x/, '').toLowerCase();

export class UpdateService {
  constructor(
    private readonly db: Db,
    private readonly onQueued: () => void,
    private readonly chain: ChainService,
    /** the server's public base URL, for the commit URLs of a 465 answer */
    private readonly publicUrl: () => string,
    private readonly pendingTtlMs = PENDING_TTL_MS,
  ) {}

  // ---------------------------------------------------------------- the endpoints

  /**
   * `PATCH /cvms/{id}`: any subset of fields, atomically; `prepareOnly` keeps it under a token. Nothing is
   * answered for a prepared change or one an on-chain KMS app must allow first: `submit` throws the 465.
   */
  async patch(p: Principal, cvm: CvmView, body: UnifiedPatch | undefined, prepareOnly: boolean): Promise<SubmitResult> {
    const req = body ?? {};
    if (!Object.keys(req).length) {
      throw badRequest(ErrorCodes.INVALID_REQUEST, `The PATCH body is empty: send at least one field to change (${UNIFIED_PATCH_FIELDS.join(', ')}).`);
    }
    return this.submit(p, cvm, unifiedPatchOf(req), {
      operationType: 'update',
      prepareOnly,
      ...(req.allow_restart != null && { allowRestart: Boolean(req.allow_restart) }),
    });
  }

  /**
   * `PATCH /cvms/{id}` with `X-Compose-Hash` and `X-Transaction-Hash` (the official SDK's `confirmCvmPatch`, body
   * `{}`): apply the change a 465 kept for that hash, once the chain proves it allowed. A non-empty body is the
   * change itself, sent again; it must lead to that hash.
   */
  async confirmPatch(p: Principal, cvm: CvmView, body: UnifiedPatch | undefined, c: Confirmation): Promise<SubmitResult> {
    const req = body ?? {};
    return this.confirm(p, cvm, c, Object.keys(req).length ? unifiedPatchOf(req) : null, 'update');
  }

  /**
   * `POST /cvms/{id}/commit-update`: apply what a prepare-only PATCH (or a 465) kept, once. For an on-chain KMS
   * CVM whose compose hash it moves, the chain is asked first, as for a confirmation: `transactionHash` (empty, or
   * `already-registered`: the contract only) must prove the hash added, and the contract must allow it now.
   */
  async commitPrepared(p: Principal, cvm: CvmView, token: string, composeHash?: string | null, transactionHash?: string | null): Promise<SubmitResult> {
    const pending = await findPreparedPatch(this.db, sha256(token), p.workspaceId);
    const invalid = (why: string) => badRequest(ErrorCodes.COMMIT_TOKEN_INVALID, why);
    if (!pending) throw invalid('This commit token is not valid: it was never issued in this workspace. Run the prepare-only PATCH again for a new one.');
    if (pending.cvm_id !== cvm.id) throw invalid(`This commit token was issued for another CVM, not ${cvm.name}.`);
    if (pending.used_at) throw invalid(`This commit token was already used at ${pending.used_at.toISOString()}: a token applies its change once.`);
    if (pending.expires_at.getTime() <= Date.now()) throw invalid(`This commit token expired at ${pending.expires_at.toISOString()}: run the prepare-only PATCH again.`);
    if (composeHash && normHash(composeHash) !== pending.compose_hash) {
      throw badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED,
        `compose_hash ${composeHash} is not the hash this token was prepared for (${pending.compose_hash}).`);
    }
    const onChain = isOnChain(cvm) && pending.compose_hash !== pending.base_hash;
    if (onChain) await this.proveAllowed(cvm, pending.compose_hash, transactionHash);
    return this.submit(p, cvm, pending.change, {
      operationType: 'update',
      baseHash: pending.base_hash,
      consumes: { id: pending.id, spent: () => invalid('This commit token was already used: a token applies its change once.') },
      ...(onChain && { chainChecked: pending.compose_hash }),
    });
  }

  /** `PATCH /cvms/{id}/resources`. */
  async resources(p: Principal, cvm: CvmView, body: ResourcesPatch | undefined): Promise<SubmitResult> {
    const req = body ?? {};
    const patch: ConfigPatch = {
      ...sizesOf(req),
      ...(req.disk_size != null && { disk_gb: req.disk_size }),
    };
    if (!Object.keys(patch).length) {
      throw badRequest(ErrorCodes.INVALID_REQUEST, 'Send at least one of vcpu, memory (MB), disk_size (GB) or instance_type.');
    }
    const allowRestart = req.allow_restart == null ? true : Boolean(req.allow_restart);
    return this.submit(p, cvm, patch, { operationType: 'resources', allowRestart });
  }

  /** `PATCH /cvms/{id}/visibility`: `listed` is recorded at once; the public_* flags live in the compose. */
  async visibility(p: Principal, cvm: CvmView, body: VisibilityPatch | undefined): Promise<CvmView> {
    const req = body ?? {};
    const compose = {
      ...(req.public_logs !== undefined && { public_logs: req.public_logs }),
      ...(req.public_sysinfo !== undefined && { public_sysinfo: req.public_sysinfo }),
      ...(req.public_tcbinfo != null && { public_tcbinfo: req.public_tcbinfo }),
    };
    const patch: ConfigPatch = { ...(Object.keys(compose).length && { compose }), ...(req.listed !== undefined && { listed: req.listed }) };
    if (!Object.keys(patch).length) {
      throw badRequest(ErrorCodes.INVALID_REQUEST, 'Send at least one of listed, public_sysinfo, public_logs or public_tcbinfo.');
    }
    const r = await this.submit(p, cvm, patch, { operationType: 'visibility' });
    return (await findCvmById(this.db, r.cvm_id))!;
  }

  /** `PATCH /cvms/{id}/os-image`. */
  async osImage(p: Principal, cvm: CvmView, req: OsImagePatch): Promise<SubmitResult> {
    return this.submit(p, cvm, { image: req.os_image_name }, { operationType: 'os_image' });
  }

  /** `GET /cvms/{id}/available-os-images`: the CVM's node's images that suit it, by version, prod and dev. */
  async availableOsImages(cvm: CvmView) {
    const images = await cpuImagesOfNode(this.db, cvm.node.id);
    const onChain = cvm.kms.kms_type !== 'phala';
    type Variant = { name: string; os_image_hash: string | null; is_current: boolean };
    const byVersion = new Map<string, { version: number[]; prod: Variant | null; dev: Variant | null }>();
    for (const img of images) {
      if (onChain && img.is_dev) continue; // an on-chain KMS releases keys to production images only
      const entry = byVersion.get(img.version) ?? { version: img.version.split('.').map(Number), prod: null, dev: null };
      entry[img.is_dev ? 'dev' : 'prod'] = { name: img.name, os_image_hash: img.os_image_hash, is_current: img.name === cvm.image };
      byVersion.set(img.version, entry);
    }
    const cmp = (a: number[], b: number[]) => {
      for (let i = 0; i < Math.max(a.length, b.length); i++) if ((b[i] ?? 0) !== (a[i] ?? 0)) return (b[i] ?? 0) - (a[i] ?? 0);
      return 0;
    };
    return [...byVersion.values()].sort((a, b) => cmp(a.version, b.version));
  }

  /** `PATCH /cvms/{id}/pre-launch-script` (text body; empty removes the script); `c`: an on-chain confirmation. */
  async preLaunchScript(p: Principal, cvm: CvmView, script: string, c: Confirmation | null = null): Promise<SubmitResult> {
    const patch: ConfigPatch = { compose: { pre_launch_script: script || null } };
    return c ? this.confirm(p, cvm, c, patch, 'pre_launch_script') : this.submit(p, cvm, patch, { operationType: 'pre_launch_script' });
  }

  /** `PATCH /cvms/{id}/docker-compose` (YAML body); `c`: an on-chain confirmation. */
  async dockerCompose(p: Principal, cvm: CvmView, yaml: string, c: Confirmation | null = null): Promise<SubmitResult> {
    const patch: ConfigPatch = { compose: { docker_compose_file: yaml } };
    return c ? this.confirm(p, cvm, c, patch, 'compose_update') : this.submit(p, cvm, patch, { operationType: 'compose_update' });
  }

  /**
   * `PATCH /cvms/{id}/envs`: the sealed env is replaced as a whole (keys left out are gone). With
   * `env_keys`, the compose's `allowed_envs` becomes exactly those keys (`allowed_envs_changed`), which moves
   * the compose hash: for an on-chain KMS CVM the request is sent again with `compose_hash` and
   * `transaction_hash` once the hash is registered.
   */
  async envs(p: Principal, cvm: CvmView, req: EnvsPatch): Promise<SubmitResult> {
    const patch: ConfigPatch = req.env_keys
      ? { encrypted_env: req.encrypted_env, env_keys: req.env_keys, compose: { allowed_envs: req.env_keys } }
      : { encrypted_env: req.encrypted_env, env_keys: 'allowed_envs' };
    const c = confirmationOf(req.compose_hash, req.transaction_hash, 'compose_hash and transaction_hash');
    return c ? this.confirm(p, cvm, c, patch, 'env_update') : this.submit(p, cvm, patch, { operationType: 'env_update' });
  }

  /**
   * `PUT /cvms/{id}/compose` (the deprecated `phala cvms upgrade`): a new docker-compose YAML and/or a new
   * sealed env. Its manifest's other fields (`name: app_<id>`, manifest_version 1) are not taken: the
   * CVM's app-compose keeps them. With a new env, `allowed_envs` becomes its keys.
   */
  async legacyUpgrade(p: Principal, cvm: CvmView, req: LegacyCompose): Promise<SubmitResult> {
    const yaml = req.compose_manifest.docker_compose_file;
    const keys = req.env_keys ?? req.compose_manifest.allowed_envs ?? [];
    const patch: ConfigPatch = {
      ...((yaml || req.encrypted_env) && {
        compose: { ...(yaml && { docker_compose_file: yaml }), ...(req.encrypted_env && { allowed_envs: keys }) },
      }),
      ...(req.encrypted_env && { encrypted_env: req.encrypted_env, env_keys: keys }),
    };
    if (!patch.compose) throw badRequest(ErrorCodes.COMPOSE_FILE_REQUIRED, 'Send compose_manifest.docker_compose_file, an encrypted_env, or both.');
    const allowRestart = req.allow_restart == null ? true : Boolean(req.allow_restart);
    return this.submit(p, cvm, patch, { operationType: 'compose_update', allowRestart });
  }

  /**
   * `POST /cvms/{id}/compose_file/provision`: validate and hash the new compose, keep it 14 days. For an on-chain
   * KMS CVM, `compose_hash_registered` is what the app's contract says now (read before anything is kept).
   */
  async provisionCompose(p: Principal, cvm: CvmView, req: ComposeProvision) {
    const current = JSON.parse(cvm.app_compose) as Record<string, unknown>;
    const built = buildAppCompose({ ...req, name: req.name || (current.name as string) }, cvm.name);
    // update_env_vars decides whether allowed_envs changes; otherwise the sealed env's allowance stays
    if (!req.update_env_vars) built.allowed_envs = (current.allowed_envs as string[] | undefined) ?? [];
    const patch: ConfigPatch = { compose: { replace: built } };
    const config = await configOf(this.db, cvm.id);
    // the commit may bring a new sealed env, so the sealed-env keys are checked there, not here
    const plan = planChange(config, patch, { sealedEnvCheck: !req.update_env_vars });
    const registered = isOnChain(cvm)
      ? (await this.chain.app(cvm.kms, cvm.app_id, { composeHash: plan.next.compose_hash })).composeHashAllowed
      : false;
    await insertComposeProvision(this.db, {
      workspace_id: p.workspaceId, cvm_id: cvm.id, compose_hash: plan.next.compose_hash, base_hash: config.compose_hash, change: patch, created_by: p.userId,
    }, this.pendingTtlMs);
    return {
      app_id: cvm.app_id,
      device_id: cvm.node.device_id,
      compose_hash: plan.next.compose_hash,
      // on-chain KMS only: with PHALA KMS there is nothing to register (the SDK reads a non-null kms_info as "register first")
      kms_info: cvm.kms.kms_type === 'phala' ? null : kmsInfo(cvm.kms),
      compose_hash_registered: registered,
    };
  }

  /**
   * Phase two: apply a provisioned compose (plus an optional new sealed env). For an on-chain KMS CVM whose
   * compose hash it moves, the app's contract must allow the hash first (468), and a `transaction_hash`, if
   * sent, must prove it added (467).
   */
  async commitCompose(p: Principal, cvm: CvmView, req: ComposeCommit): Promise<SubmitResult> {
    const hash = normHash(req.compose_hash);
    const pending = await latestComposeProvision(this.db, cvm.id, hash);
    if (!pending) {
      throw badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED,
        `compose_hash ${hash} was not provisioned for CVM ${cvm.name}: call POST /cvms/{id}/compose_file/provision for this CVM first.`);
    }
    if (pending.used_at) throw badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED, `compose_hash ${hash} was already committed at ${pending.used_at.toISOString()}: provision again for another update.`);
    if (pending.expires_at.getTime() <= Date.now()) throw badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED, `The provision of compose_hash ${hash} expired at ${pending.expires_at.toISOString()}: provision again.`);
    const patch: ConfigPatch = { ...pending.change };
    if (req.encrypted_env) {
      patch.encrypted_env = req.encrypted_env;
      patch.env_keys = req.env_keys ?? 'allowed_envs';
    } else if (req.env_keys) {
      throw badRequest(ErrorCodes.INVALID_REQUEST, 'env_keys name the keys of a new encrypted_env: send encrypted_env with them, or leave both out.');
    }
    const onChain = isOnChain(cvm) && hash !== pending.base_hash;
    if (onChain) await this.proveAllowed(cvm, hash, req.transaction_hash);
    return this.submit(p, cvm, patch, {
      operationType: 'compose_update',
      baseHash: pending.base_hash,
      ...(onChain && { chainChecked: hash }),
      consumes: { id: pending.id, spent: () => badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED, `compose_hash ${hash} was already committed: provision again for another update.`) },
    });
  }

  /** `GET /apps/{app_id}/revisions`. */
  async revisions(appId: string, page: number, pageSize: number) {
    const n = await countRevisions(this.db, appId);
    const rows = await listRevisions(this.db, appId, { limit: pageSize, offset: (page - 1) * pageSize });
    return { revisions: rows.map(revisionShape), total: n, page, page_size: pageSize, total_pages: Math.ceil(n / pageSize) };
  }

  /** `GET /apps/{app_id}/revisions/{revision_id}`. */
  async revision(appId: string, revisionId: string, rawCompose: boolean) {
    const r = await findRevision(this.db, appId, revisionId);
    if (!r) throw notFound(ErrorCodes.CVM_NOT_FOUND, `App ${appId} has no revision ${revisionId}: list them with GET /apps/${appId}/revisions.`);
    return {
      ...revisionShape(r),
      compose_file: rawCompose ? r.app_compose : JSON.parse(r.app_compose),
      encrypted_env: r.encrypted_env ?? '',
      user_config: r.user_config ?? '',
    };
  }

  /**
   * `POST /apps/{app_id}/revisions/{revision_id}/rollback`: redeploy a revision (its compose, sealed env
   * and user config) through the update path, on the revision's CVM or `cvm_id` of the same app.
   */
  async rollback(p: Principal, appId: string, revisionId: string, body: RollbackRequest): Promise<SubmitResult> {
    const r = await findRevision(this.db, appId, revisionId);
    if (!r) throw notFound(ErrorCodes.CVM_NOT_FOUND, `App ${appId} has no revision ${revisionId}: list them with GET /apps/${appId}/revisions.`);
    const target = body?.cvm_id;
    const cvm = await this.cvm(p, target != null ? String(target) : r.vm_uuid);
    if (cvm.app_id !== appId) throw badRequest(ErrorCodes.INCOMPATIBLE_CONFIG, `CVM ${cvm.name} runs app ${cvm.app_id}, not ${appId}: a revision is redeployed on a CVM of its own app.`);
    return this.submit(p, cvm, revisionPatch(r), { operationType: 'rollback' });
  }

  /**
   * `POST /cvms/{id}/revisions/{revision_id}/redeploy`: a revision of the CVM's app (its compose, sealed env and
   * user config) on this CVM, as `rollback` does; `transactionHash` proves an on-chain KMS app's contract allows it.
   */
  async redeployOnCvm(p: Principal, cvm: CvmView, revisionId: string, transactionHash?: string | null): Promise<SubmitResult> {
    const r = await findRevision(this.db, cvm.app_id, revisionId);
    if (!r) throw notFound(ErrorCodes.CVM_NOT_FOUND, `App ${cvm.app_id} of CVM ${cvm.name} has no revision ${revisionId}: list them with GET /apps/${cvm.app_id}/revisions.`);
    return this.redeploy(p, cvm, r, transactionHash);
  }

  /**
   * `POST /apps/{app_id}/revisions/{revision_id}/redeploy`: on the app's one live CVM, or on each CVM `vmUuids`
   * names (required when the app has several: 422). Every target is checked before the first is changed; then
   * each is updated in turn (a refusal stops there; the CVMs before it stay queued).
   */
  async redeployOnApp(p: Principal, appId: string, revisionId: string, vmUuids: string[] | null | undefined, transactionHash?: string | null) {
    const r = await findRevision(this.db, appId, revisionId);
    if (!r) throw notFound(ErrorCodes.CVM_NOT_FOUND, `App ${appId} has no revision ${revisionId}: list them with GET /apps/${appId}/revisions.`);
    let targets: CvmView[];
    if (vmUuids?.length) {
      targets = [];
      for (const id of vmUuids) {
        const cvm = await this.cvm(p, id);
        if (cvm.app_id !== appId) throw badRequest(ErrorCodes.INCOMPATIBLE_CONFIG, `CVM ${cvm.name} runs app ${cvm.app_id}, not ${appId}: a revision is redeployed on CVMs of its own app.`);
        if (!targets.some((t) => t.id === cvm.id)) targets.push(cvm);
      }
    } else {
      targets = await listCvmsOfApps(this.db, p.workspaceId, [appId]);
      if (!targets.length) throw notFound(ErrorCodes.CVM_NOT_FOUND, `App ${appId} has no live CVM to redeploy revision ${revisionId} on.`);
      if (targets.length > 1) {
        throw new ApiError(422, ErrorCodes.INVALID_REQUEST,
          `App ${appId} has ${targets.length} live CVMs (${targets.map((t) => t.vm_uuid).join(', ')}): name the ones to redeploy in vm_uuids.`,
          { details: [{ field: 'vm_uuids', message: 'required when the app has several CVMs' }] });
      }
    }
    for (const t of targets) if (t.progress) throw busy(t.name, { kind: t.progress.kind, correlation_id: t.progress.correlation_id, created_at: t.progress.started_at });
    const cvms = [];
    for (const t of targets) cvms.push({ vm_uuid: t.vm_uuid, name: t.name, result: await this.redeploy(p, t, r, transactionHash) });
    return { revision_id: r.revision_id, app_id: appId, cvms };
  }

  /** A revision on one CVM of its app: an on-chain confirmation when a transaction hash is sent, else a change like any other. */
  private async redeploy(p: Principal, cvm: CvmView, r: RevisionListing, transactionHash?: string | null): Promise<SubmitResult> {
    const patch = revisionPatch(r);
    const tx = transactionHash?.trim();
    if (tx) {
      if (!isOnChain(cvm)) {
        throw badRequest(ErrorCodes.INVALID_REQUEST,
          `CVM ${cvm.name} uses the PHALA KMS, whose redeploys need no on-chain proof: send the request without transaction_hash.`);
      }
      const plan = planChange(await configOf(this.db, cvm.id), patch);
      if (plan.composeChanged) {
        await this.proveAllowed(cvm, plan.next.compose_hash, tx);
        return this.submit(p, cvm, patch, { operationType: 'redeploy', chainChecked: plan.next.compose_hash });
      }
    }
    return this.submit(p, cvm, patch, { operationType: 'redeploy', confirmWith: CONFIRM_BY_QUERY });
  }

  // ---------------------------------------------------------------- the one path every change takes

  async submit(p: Principal, cvm: CvmView, patch: ConfigPatch, o: SubmitOptions): Promise<SubmitResult> {
    // on-chain KMS: the contract is read before the transaction, so a chain that does not answer writes nothing
    const verdict = o.chainChecked ? null : await this.chainVerdict(cvm, patch);
    let prepared: Prepared | null = null;
    const result = await withBusyCheck(this.db, cvm.name, async (q) => {
      const row = await lockLiveCvm(q, cvm);
      if (o.consumes) {
        if (!(await claimPendingUpdate(q, o.consumes.id))) throw o.consumes.spent();
      }
      await assertIdle(q, cvm.id, cvm.name);
      const config = await configOf(q, cvm.id);
      if (o.baseHash && o.baseHash !== config.compose_hash) {
        throw new ApiError(o.staleStatus ?? 400, ErrorCodes.HASH_INVALID_OR_EXPIRED,
          `CVM ${cvm.name} changed since this update was prepared (compose_hash ${config.compose_hash}, prepared on ${o.baseHash}): prepare it again.`);
      }
      const plan = planChange(config, patch);
      // the same thing again (a repeated deploy) succeeds and does nothing; the operation is its receipt
      if (!plan.changed.length && !o.prepareOnly) {
        const op = await queueOperation(q, { workspaceId: p.workspaceId, cvmId: cvm.id, kind: 'update', target: row.status, state: 'succeeded', step: 'unchanged', params: { operation_type: o.operationType, fields: [] } });
        return { cvm, plan, op, applied: true, unchanged: true };
      }
      if (plan.needsHost) {
        if (!UPDATABLE.has(row.status) || !row.host_vm_id) {
          throw new ApiError(400, ErrorCodes.CVM_INVALID_STATE,
            `CVM ${cvm.name} is ${row.status}: a configuration update needs a running, stopped or exited CVM${row.host_vm_id ? '' : ' that exists on its host (start it first)'}.`);
        }
        if (row.status === 'running' && o.allowRestart === false) {
          throw new ApiError(400, ErrorCodes.CVM_INVALID_STATE,
            `This change restarts CVM ${cvm.name}, and allow_restart is off: pass allow_restart, or stop the CVM first.`);
        }
        await checkAgainstNode(q, cvm, config, plan);
      }
      // on-chain KMS: a new compose hash must be the one the chain was asked about, and allowed there
      const hashOnChain = isOnChain(cvm) && plan.composeChanged;
      if (hashOnChain && (o.chainChecked ?? verdict?.hash) !== plan.next.compose_hash) {
        throw conflict(ErrorCodes.CVM_BUSY, `CVM ${cvm.name} changed while its new compose hash was checked on the chain: send the request again.`);
      }
      const mustRegister = hashOnChain && !o.chainChecked && !verdict!.composeHashAllowed;
      if (o.prepareOnly || mustRegister) {
        const token = `ctk_${randomBytes(24).toString('base64url')}`;
        const expires = await insertPreparedPatch(q, {
          workspace_id: p.workspaceId, cvm_id: cvm.id, compose_hash: plan.next.compose_hash, base_hash: config.compose_hash,
          token_hash: sha256(token), change: patch, created_by: p.userId,
          // a change the contract must allow first is a cvm.update.pending_approval event; a prepare-only one is not
          awaiting: mustRegister ? ['compose_hash'] : null,
        }, this.pendingTtlMs);
        prepared = { token, hash: plan.next.compose_hash, expires, verdict: hashOnChain ? verdict : null, mustRegister };
        return { cvm, plan, op: null };
      }
      if (!plan.needsHost) {
        await applyConfig(q, cvm.id, plan.next);
        const op = await queueOperation(q, { workspaceId: p.workspaceId, cvmId: cvm.id, kind: 'update', target: row.status, state: 'succeeded', params: { operation_type: o.operationType, fields: plan.changed } });
        if (plan.composeChanged) await recordRevision(q, { cvmId: cvm.id, userId: p.userId, operationType: o.operationType, operationId: op.id, correlationId: op.correlation_id });
        return { cvm, plan, op, applied: true };
      }
      const params: UpdateParams = { next: plan.next, previous: config, operation_type: o.operationType, restart: row.status === 'running' };
      const op = await queueOperation(q, { workspaceId: p.workspaceId, cvmId: cvm.id, kind: 'update', target: params.restart ? 'running' : 'stopped', params: { ...params, triggered_by: p.userId } });
      await setCvmStatus(q, cvm.id, 'updating');
      return { cvm, plan, op, applied: false };
    });
    // kept, not applied (the transaction is committed): HTTP 465 with what the two-phase clients read
    if (prepared) throw this.twoPhaseAnswer(result.cvm, prepared, o.confirmWith ?? CONFIRM_BY_HEADERS);
    if (!result.applied) this.onQueued();
    const plan = result.plan as PlannedChange;
    const unchanged = 'unchanged' in result;
    return {
      correlation_id: result.op!.correlation_id,
      status: unchanged ? 'unchanged' : result.applied ? 'applied' : 'in_progress',
      compose_hash: plan.next.compose_hash,
      allowed_envs_changed: plan.allowedEnvsChanged,
      cvm_id: result.cvm.id,
      message: unchanged
        ? unchangedMessage(result.cvm.name, plan.next.compose_hash)
        : result.applied
          ? `Recorded: ${plan.changed.join(', ')} changed; nothing on the host needed a restart.`
          : restartMessage(plan, result.cvm),
    };
  }

  // ---------------------------------------------------------------- on-chain KMS

  /**
   * For an on-chain KMS CVM, what its app's contract says about the compose hash `patch` leads to (null when the
   * hash does not move, the KMS is PHALA, or the patch is invalid: the transaction then says why).
   */
  private async chainVerdict(cvm: CvmView, patch: ConfigPatch): Promise<ChainVerdict | null> {
    if (!isOnChain(cvm)) return null;
    let plan: PlannedChange;
    try {
      plan = planChange(await configOf(this.db, cvm.id), patch);
    } catch {
      return null;
    }
    if (!plan.composeChanged) return null;
    const app = await this.chain.app(cvm.kms, cvm.app_id, { composeHash: plan.next.compose_hash, deviceId: cvm.node.device_id });
    return { hash: plan.next.compose_hash, composeHashAllowed: app.composeHashAllowed, deviceAllowed: app.allowAnyDevice || !!app.deviceAllowed, owner: app.owner };
  }

  /**
   * The confirmation of a change a 465 kept: the pending change for that compose hash (466 if none, used or
   * expired), then the chain (467, 468), then the change applied as any other, consuming the pending one.
   */
  private async confirm(p: Principal, cvm: CvmView, c: Confirmation, patch: ConfigPatch | null, operationType: string): Promise<SubmitResult> {
    if (!isOnChain(cvm)) {
      throw badRequest(ErrorCodes.INVALID_REQUEST,
        `CVM ${cvm.name} uses the PHALA KMS, whose updates are applied without an on-chain confirmation: send the change without a compose hash and transaction hash (X-Compose-Hash / X-Transaction-Hash).`);
    }
    const hash = normHash(c.composeHash);
    const gone = (why: string) => new ApiError(466, ErrorCodes.HASH_INVALID_OR_EXPIRED, why);
    const pending = /^[0-9a-f]{64}$/.test(hash) ? await preparedPatchFor(this.db, cvm.id, hash) : null;
    if (!pending) {
      throw gone(`No change of CVM ${cvm.name} waits for compose_hash ${c.composeHash}: send the change again without the confirmation; its 465 answer names the compose hash to register.`);
    }
    if (pending.used_at) throw gone(`The change of CVM ${cvm.name} to compose_hash ${hash} was already applied (${pending.used_at.toISOString()}): a change is confirmed once.`);
    if (pending.expires_at.getTime() <= Date.now()) {
      throw gone(`The change of CVM ${cvm.name} to compose_hash ${hash} expired at ${pending.expires_at.toISOString()}: send it again from the beginning.`);
    }
    if (patch) {
      const planned = planChange(await configOf(this.db, cvm.id), patch).next.compose_hash;
      if (planned !== hash) {
        throw gone(`This change leads to compose_hash ${planned}, not ${hash}: confirm with the compose hash its 465 answer gave.`);
      }
    }
    await this.proveAllowed(cvm, hash, c.transactionHash);
    return this.submit(p, cvm, patch ?? pending.change, {
      operationType,
      baseHash: pending.base_hash,
      staleStatus: 466,
      consumes: { id: pending.id, spent: () => gone(`The change of CVM ${cvm.name} to compose_hash ${hash} was already applied: a change is confirmed once.`) },
      chainChecked: hash,
    });
  }

  /**
   * The chain's proof for a new compose hash of an on-chain KMS CVM: the transaction (unless empty or
   * `already-registered`) added it to the app's contract (467 otherwise), and the contract allows it now (468).
   */
  private async proveAllowed(cvm: CvmView, hash: string, transactionHash: string | null | undefined): Promise<void> {
    const tx = transactionHash?.trim() ?? '';
    const chain = chainName(cvm);
    if (tx && tx !== ALREADY_REGISTERED) {
      const proof = await this.chain.composeHashAddedBy(cvm.kms, cvm.app_id, hash, tx);
      if (!proof.ok) {
        const why = {
          'not-found': `transaction ${tx} is not a mined transaction on ${chain}`,
          reverted: `transaction ${tx} failed (reverted) on ${chain}`,
          'no-such-event': `transaction ${tx} did not add compose_hash ${hash} to app 0x${cvm.app_id}'s contract (it has no ComposeHashAdded event of that contract for that hash)`,
        }[proof.reason];
        throw new ApiError(467, ErrorCodes.TX_VERIFICATION_FAILED,
          `${why[0]!.toUpperCase()}${why.slice(1)}: send the hash of the addComposeHash transaction that added it, or "${ALREADY_REGISTERED}" if the contract already allows it.`);
      }
    }
    const app = await this.chain.app(cvm.kms, cvm.app_id, { composeHash: hash });
    if (!app.composeHashAllowed) {
      throw new ApiError(468, ErrorCodes.HASH_NOT_ALLOWED,
        `compose_hash ${hash} is not allowed by app 0x${cvm.app_id}'s contract on ${chain} now${tx && tx !== ALREADY_REGISTERED ? ' (it was removed after that transaction)' : ''}: add it with addComposeHash (as the contract's owner ${app.owner}), then confirm again.`);
    }
  }

  /** HTTP 465: the change is kept, not applied; a confirmation or `POST /cvms/{id}/commit-update` with the token applies it. */
  private twoPhaseAnswer(cvm: CvmView, r: Prepared, confirmWith: string): ApiError {
    const until = r.expires.toISOString();
    const message = r.mustRegister
      ? `compose_hash ${r.hash} must be allowed by app 0x${cvm.app_id}'s contract on ${chainName(cvm)} before CVM ${cvm.name} can run it; nothing was changed. ` +
        `Add it with addComposeHash as the contract's owner (${r.verdict!.owner}), then send this request again with ${confirmWith}, ` +
        `or POST /cvms/${cvm.vm_uuid}/commit-update with the commit_token, before ${until}.`
      : `Prepared, not applied: commit it with POST /cvms/${cvm.vm_uuid}/commit-update and the commit_token before ${until}. The token works once.`;
    return keptChangeAnswer({
      cvm, composeHash: r.hash, deviceId: cvm.node.device_id, token: r.token, expires: r.expires,
      commitUrl: `${this.publicUrl()}/api/v1/cvms/${cvm.vm_uuid}/commit-update`, message, onChain: r.verdict,
    });
  }

  /** A CVM of the caller's workspace named in a request body (a rollback's `cvm_id`). */
  private async cvm(p: Principal, identifier: string): Promise<CvmView> {
    const cvm = await findCvm(this.db, p.workspaceId, parseCvmRef(identifier));
    if (!cvm) throw notFound(ErrorCodes.CVM_NOT_FOUND, `CVM "${identifier}" was not found in this workspace.`);
    return cvm;
  }


}

/** A change kept under a commit token (prepare-only, or a new compose hash an on-chain KMS app must allow first). */
interface Prepared {
  token: string;
  hash: string;
  expires: Date;
  /** what the app's contract said about the new hash (on-chain KMS, when the hash moves) */
  verdict: ChainVerdict | null;
  /** kept because the contract does not allow the new hash yet (not because prepare-only was asked) */
  mustRegister: boolean;
}

const isOnChain = (cvm: CvmView) => cvm.kms.kms_type !== 'phala';

/**
 * A confirmation from its two values (headers, or `/envs`' body fields): null when neither is sent; a compose
 * hash without a transaction hash (or the other way round) is refused.
 */
export function confirmationOf(composeHash: string | null | undefined, transactionHash: string | null | undefined, names: string): Confirmation | null {
  const h = composeHash?.trim() ?? '';
  const t = transactionHash?.trim() ?? '';
  if (!h && !t) return null;
  if (!h || !t) {
    throw badRequest(ErrorCodes.INVALID_REQUEST,
      `An on-chain confirmation needs both ${names}: the compose hash the 465 answer named, and the hash of the transaction that added it (or "${ALREADY_REGISTERED}").`);
  }
  return { composeHash: h, transactionHash: t };
}

/** The unified PATCH body as one change set. */
/**
 * vCPUs and memory of a resize: those given, else the instance type's (of our catalogue, `GET /instance-types`),
 * and the type itself. The disk is not the type's: it only grows, and is changed by `disk_size` alone.
 */
function sizesOf(req: { vcpu?: number | null; memory?: number | null; instance_type?: string | null }): ConfigPatch {
  let type = null;
  if (req.instance_type) {
    type = DEFAULT_INSTANCE_TYPES.find((t) => t.id === req.instance_type);
    if (!type) {
      throw badRequest(ErrorCodes.INSTANCE_TYPE_NOT_FOUND,
        `instance_type "${req.instance_type}" does not exist: use one of ${DEFAULT_INSTANCE_TYPES.map((t) => t.id).join(', ')} (GET /instance-types).`);
    }
    if (type.requires_gpu) throw badRequest(ErrorCodes.INSUFFICIENT_GPU, `instance_type ${type.id} needs a GPU, which no node of this server has.`);
  }
  return {
    ...((req.vcpu ?? type?.vcpu) != null && { vcpu: (req.vcpu ?? type?.vcpu)! }),
    ...((req.memory ?? type?.memory_mb) != null && { memory_mb: (req.memory ?? type?.memory_mb)! }),
    ...(type && { instance_type: type.id }),
  };
}

function unifiedPatchOf(req: UnifiedPatch): ConfigPatch {
  if (req.gpus && req.gpus.count > 0) {
    throw badRequest(ErrorCodes.INSUFFICIENT_GPU, 'No node of this server has GPUs to attach: send gpus with count 0, or leave gpus out.');
  }
  const compose = {
    ...(req.docker_compose_file !== undefined && { docker_compose_file: req.docker_compose_file }),
    ...(req.pre_launch_script !== undefined && { pre_launch_script: req.pre_launch_script }),
    ...(req.allowed_envs !== undefined && { allowed_envs: req.allowed_envs }),
    ...(req.public_logs !== undefined && { public_logs: req.public_logs }),
    ...(req.public_sysinfo !== undefined && { public_sysinfo: req.public_sysinfo }),
    ...(req.public_tcbinfo !== undefined && { public_tcbinfo: req.public_tcbinfo }),
  };
  const patch: ConfigPatch = {
    ...(Object.keys(compose).length && { compose }),
    ...(req.encrypted_env !== undefined && { encrypted_env: req.encrypted_env }),
    ...(req.env_keys !== undefined && { env_keys: req.env_keys }),
    ...(req.user_config !== undefined && { user_config: req.user_config }),
    ...sizesOf(req),
    ...(req.disk_size !== undefined && { disk_gb: req.disk_size }),
    ...(req.image !== undefined && { image: req.image }),
    ...(req.shutdown_timeout !== undefined && { shutdown_timeout_s: req.shutdown_timeout }),
    ...(req.allow_force_stop !== undefined && { allow_force_stop: req.allow_force_stop }),
    ...(req.listed !== undefined && { listed: req.listed }),
  };
  // a new sealed env without env_keys carries what the (new) compose lets through
  if (req.encrypted_env !== undefined && req.env_keys === undefined) patch.env_keys = 'allowed_envs';
  return patch;
}

function restartMessage(plan: PlannedChange, cvm: CvmView): string {
  return `Updating CVM ${cvm.name} (${plan.changed.join(', ')}): it stops, the host applies the change, then it starts again. Follow the correlation_id on GET /cvms/${cvm.vm_uuid}/state.`;
}


/** Capacity and image checks against the CVM's node (the host checks again when it applies). */
async function checkAgainstNode(q: Queryable, cvm: CvmView, current: CvmConfig, plan: PlannedChange): Promise<void> {
  const next = plan.next;
  if (next.vcpu > current.vcpu || next.memory_mb > current.memory_mb || next.disk_gb > current.disk_gb) {
    const node = (await lockNode(q, cvm.node.id))!;
    const used = await nodeUsageExcept(q, cvm.node.id, cvm.id);
    if (node.max_vcpu && used.vcpu + next.vcpu > node.max_vcpu) {
      throw badRequest(ErrorCodes.INSUFFICIENT_VCPU,
        `Node ${node.name} has ${node.max_vcpu - used.vcpu} vCPU free for this CVM; ${next.vcpu} were asked for. Ask for fewer, or replicate it to another node.`);
    }
    if (node.max_memory_mb && used.memory_mb + next.memory_mb > node.max_memory_mb) {
      throw badRequest(ErrorCodes.INSUFFICIENT_MEMORY,
        `Node ${node.name} has ${node.max_memory_mb - used.memory_mb} MB memory free for this CVM; ${next.memory_mb} MB were asked for.`);
    }
    if (node.max_disk_gb && used.disk_gb + next.disk_gb > node.max_disk_gb) {
      throw badRequest(ErrorCodes.RESOURCE_NOT_AVAILABLE,
        `Node ${node.name} has ${node.max_disk_gb - used.disk_gb} GB disk free for this CVM; ${next.disk_gb} GB were asked for.`);
    }
  }
  if (next.image !== current.image) {
    const images = await imagesOfNode(q, cvm.node.id);
    const image = images.find((i) => i.name === next.image);
    if (!image) {
      throw badRequest(ErrorCodes.IMAGE_NOT_FOUND,
        `Node ${cvm.node.name} has no OS image "${next.image}": use one of GET /cvms/${cvm.vm_uuid}/available-os-images.`);
    }
    if (image.requires_gpu) {
      throw badRequest(ErrorCodes.OS_IMAGE_NOT_COMPATIBLE, `OS image ${image.name} is for GPU CVMs; CVM ${cvm.name} has no GPU.`);
    }
    if (image.is_dev && cvm.kms.kms_type !== 'phala') {
      throw badRequest(ErrorCodes.OS_IMAGE_NOT_COMPATIBLE, `OS image ${image.name} is a dev image; an on-chain KMS CVM runs production images only.`);
    }
  }
}

/** What redeploying a revision changes: its compose (as the exact hashed text), sealed env and user config. */
function revisionPatch(r: RevisionListing): ConfigPatch {
  return {
    compose: { replace: JSON.parse(r.app_compose) },
    ...(r.encrypted_env && { encrypted_env: r.encrypted_env, env_keys: r.env_keys }),
    ...(r.user_config && { user_config: r.user_config }),
  };
}

function revisionShape(r: RevisionListing) {
  return {
    revision_id: r.revision_id,
    app_id: r.app_id,
    vm_uuid: r.vm_uuid,
    compose_hash: r.compose_hash,
    created_at: r.created_at.toISOString(),
    operation_type: r.operation_type,
    trace_id: r.correlation_id,
    triggered_by: r.u_id ? { object_type: 'user' as const, id: String(r.u_id), username: r.u_username, avatar_url: null } : null,
    cvm: { object_type: 'cvm' as const, id: String(r.cvm_id), name: r.cvm_name, app_id: r.app_id, vm_uuid: r.vm_uuid },
    workspace: { object_type: 'workspace' as const, id: String(r.w_id), name: r.w_name, slug: r.w_slug, avatar_url: null },
  };
}
