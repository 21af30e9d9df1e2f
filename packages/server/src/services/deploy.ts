/**
 * The two-phase deploy of Phala Cloud's API (`POST /cvms/provision`, then `POST /cvms`): `provision` validates
 * and hashes the app-compose, reserves the app identity and keeps it 14 days; `commit` records the CVM and
 * queues its first boot.
 */
import { randomUUID } from 'node:crypto';
import {
  ApiError,
  DEFAULT_INSTANCE_TYPE,
  DEFAULT_INSTANCE_TYPES,
  ErrorCodes,
  badRequest,
  buildAppCompose,
  checkComposeSize,
  checkDockerCompose,
  checkResourceLimits,
  composeHashOf,
  conflict,
  createAddress,
  gpuCountOf,
  kmsInfo,
  normalizeAppId,
  parseSshPublicKey,
  serializeAppCompose,
  SSH_KEY_FORM,
  withAuthorizedKeys,
  type CommitRequest,
  type CvmView,
  type KmsRecord,
  type ProvisionRequest,
} from '@opencvm/core';
import type { Db, Queryable } from '../db/index.ts';
import { insertApp, isAppIdTaken } from '../store/apps.ts';
import { findCvmById, insertCommittedCvm, isNameUniqueViolation } from '../store/cvms.ts';
import {
  insertProvision,
  lockProvisionForCommit,
  provisionChainContext,
  readProvisionContext,
  type ProvisionForCommit,
  type ProvisionSettings,
} from '../store/provisions.ts';
import { newRevisionId } from '../store/revisions.ts';
import { authorizedKeyLines } from '../store/ssh-keys.ts';
import { advanceNonce, lockDeployer, readDeployer, takeNextNonce } from '../store/workspaces.ts';
import type { Principal } from './auth.ts';
import type { ChainService } from './chain.ts';
import type { KmsService } from './kms.ts';
import { PlaceAgain, gpuConfigOf, gpuRequestOf, placeWith, reserveAtCommit } from './scheduler.ts';

const KMS_TYPES = ['phala', 'ethereum', 'base'] as const;
/** how many nodes a commit tries before it refuses (its provision's and the ones it is placed on again) */
const MAX_PLACEMENTS = 6;

export class DeployService {
  constructor(
    private readonly db: Db,
    private readonly kms: KmsService,
    private readonly chain: ChainService,
    private readonly provisionTtlMs: number,
    private readonly onQueued: () => void,
  ) {}

  async provision(p: Principal, req: ProvisionRequest) {
    const compose = req.compose_file;
    const runner = compose.runner || 'docker-compose';
    if (runner === 'docker-compose' && !compose.docker_compose_file?.trim()) {
      throw badRequest(ErrorCodes.COMPOSE_FILE_REQUIRED, 'compose_file.docker_compose_file is required: pass your docker-compose.yml as a string.');
    }
    checkComposeSize(compose.docker_compose_file ?? '', compose.pre_launch_script);
    if (compose.docker_compose_file) checkDockerCompose(compose.docker_compose_file);
    // keys given with the request join the user_config's `ssh_authorized_keys` (the user's stored keys join at the commit)
    const userConfig = withAuthorizedKeys(req.user_config ?? null, (req.ssh_authorized_keys ?? []).map((k, i) => {
      const key = parseSshPublicKey(k);
      if ('problem' in key) {
        throw new ApiError(422, ErrorCodes.INVALID_REQUEST, `ssh_authorized_keys[${i}] is not a valid SSH public key: ${key.problem}. Send ${SSH_KEY_FORM}.`, {
          details: [{ field: `ssh_authorized_keys[${i}]`, message: key.problem }],
        });
      }
      return key.line;
    }));

    // everything the checks below read, in one statement: the KMS, the nodes (placement) and the name
    const kmsType = (req.kms ?? 'phala').toLowerCase();
    const context = (KMS_TYPES as readonly string[]).includes(kmsType)
      ? await readProvisionContext(this.db, { kmsIdOrSlug: req.kms_id || null, kmsType, workspaceId: p.workspaceId, name: req.name })
      : null;
    const kms = this.resolveKms(req.kms, req.kms_id, context?.kms ?? null);
    if (kms.kms_type !== 'phala' && !this.chain.chainOf(kms.kms_type)) throw chainGone(kms.kms_type);
    if ((req.nonce != null || req.app_id) && kms.kms_type !== 'phala') {
      throw badRequest(ErrorCodes.INVALID_REQUEST, 'nonce and app_id can only be chosen with PHALA KMS; with an on-chain KMS the app_id is the AppAuth contract address.');
    }
    if (req.nonce != null && !req.app_id) {
      throw badRequest(ErrorCodes.INVALID_REQUEST, 'nonce requires app_id: pass the app_id that GET /kms/phala/next_app_id returned with this nonce.');
    }
    if (req.app_id && req.nonce == null) {
      throw badRequest(ErrorCodes.INVALID_REQUEST, 'app_id requires nonce: a custom app_id must come with the nonce it was derived from.');
    }

    const type = this.resolveInstanceType(req.instance_type, req.vcpu, req.memory);
    const vcpu = req.vcpu ?? type?.vcpu ?? 1;
    const memoryMb = req.memory ?? type?.memory_mb ?? 2048;
    const diskGb = req.disk_size ?? type?.default_disk_size_gb ?? 20;
    checkResourceLimits({ vcpu, memory_mb: memoryMb, disk_gb: diskGb });

    const appCompose = buildAppCompose(
      { ...compose, secure_time: compose.secure_time ?? req.secure_time },
      req.name,
      req.env_keys,
    );
    const appComposeText = serializeAppCompose(appCompose);
    const composeHash = composeHashOf(appComposeText);

    const gpus = gpuRequestOf(req.gpus, type ? gpuCountOf(type) : 0);
    const placement = {
      node_requested: (req.teepod_id ?? req.node_id) != null,
      region: req.region ?? null,
      labels: req.node_labels ?? null,
      gpus,
    };
    const { node, image, gpuSlots } = placeWith(context!.placement, {
      nodeId: req.teepod_id ?? req.node_id,
      region: req.region,
      labels: req.node_labels,
      image: req.image,
      preferDev: req.prefer_dev ?? (req.image ? undefined : kms.kms_type === 'phala' ? true : false),
      vcpu,
      memoryMb,
      diskGb,
      gpus,
      onchainKms: kms.kms_type !== 'phala',
    });
    if (context!.nameTaken) throw nameTaken(req.name);

    // the writes, in one transaction: the app id's nonce (its workspace row stays locked until the end) and
    // the provision
    const result = await this.db.tx(async (q) => {
      const identity = kms.kms_type === 'phala' ? await allocateAppId(q, p.workspaceId, req.nonce, req.app_id) : null;
      const settings: ProvisionSettings = {
        ports: (req.ports ?? []) as ProvisionSettings['ports'],
        // the GPU slots chosen now; the commit keeps them if they are still free, else takes others
        gpus: gpuConfigOf(gpuSlots),
        placement,
        user_config: userConfig,
        hugepages: req.hugepages ?? false,
        pin_numa: req.pin_numa ?? false,
        env_keys: req.env_keys ?? [],
        encrypted_env: req.encrypted_env ?? null,
      };
      await insertProvision(q, {
        workspace_id: p.workspaceId, user_id: p.userId, compose_hash: composeHash, app_id: identity?.appId ?? null, name: req.name,
        app_compose: appComposeText, node_id: node.id, kms_id: kms.id, instance_type: type?.id ?? null, vcpu, memory_mb: memoryMb,
        disk_gb: diskGb, image: image.name, listed: req.listed ?? false, nonce: identity?.nonce ?? null, settings,
      }, this.provisionTtlMs);
      return { appId: identity?.appId ?? null };
    });

    return {
      compose_hash: composeHash,
      app_id: result.appId,
      app_env_encrypt_pubkey: result.appId ? this.kms.envPublicKey(result.appId) : null,
      kms_id: kms.id,
      kms_info: kmsInfo(kms),
      fmspc: node.fmspc,
      device_id: node.device_id,
      os_image_hash: image.os_image_hash,
      instance_type: type?.id ?? null,
      teepod_id: node.id,
      node_id: node.id,
    };
  }

  async commit(p: Principal, req: CommitRequest): Promise<CvmView> {
    const appId = normalizeAppId(req.app_id);
    if (!appId) throw new ApiError(422, ErrorCodes.INVALID_REQUEST, `app_id "${req.app_id}" is not an app id: pass the 40-hex app_id that provision returned.`);
    const composeHash = req.compose_hash.replace(/^0x/, '').toLowerCase();
    const encryptedEnv = req.encrypted_env ? req.encrypted_env.replace(/^0x/, '').toLowerCase() : null;
    // an on-chain KMS app: the chain is asked first, outside the transaction (a chain that does not answer is a
    // 503 and nothing is written); the transaction then checks it commits the provision that was checked. With
    // no chain configured there is nothing to ask, and no read before the transaction.
    const checked = this.chain.chains().length ? await this.checkOnChain(p, req, appId, composeHash) : null;

    const commitOnce = (elsewhere: PlaceAgain | null) => this.db.tx(async (q) => {
      // Locks, in this order, so that commits racing each other queue rather than deadlock, and each hot one
      // is held for as few statements as possible: the provision's row (this commit's own), the app's row,
      // then, with the writes, the node's row (every commit to the node takes it) and the live-CVM counters.
      // No workspace lock: the name is kept unique by the `cvms_name_unique` index, checked first for the
      // usual answer; a commit that races another for the same name gets the same 409 from the index.
      const prov = await findProvision(q, p.workspaceId, composeHash, appId);
      if (prov.kms_type !== 'phala' && (!checked || checked.id !== prov.id)) {
        if (!this.chain.chainOf(prov.kms_type)) throw chainGone(prov.kms_type);
        throw conflict(ErrorCodes.CVM_BUSY, `The provision of compose_hash ${composeHash} changed while its app was checked on the chain: commit again.`);
      }
      if (prov.kms_type === 'phala' && prov.app_id !== appId) {
        throw badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED, `app_id ${appId} is not the app_id this compose_hash was provisioned for (${prov.app_id}).`);
      }
      const compose = JSON.parse(prov.app_compose) as { allowed_envs?: string[] };
      const envKeys = req.env_keys ?? prov.settings.env_keys;
      const notAllowed = envKeys.filter((k) => !(compose.allowed_envs ?? []).includes(k));
      if (notAllowed.length) {
        throw badRequest(ErrorCodes.INCOMPATIBLE_CONFIG,
          `env_keys ${notAllowed.join(', ')} are not in the compose's allowed_envs, so the CVM would boot without them: add them to compose_file.allowed_envs and provision again.`);
      }
      if (prov.name_taken) throw nameTaken(prov.name);
      // the committing user's SSH keys as they are now reach the CVM through its dstack user_config; a key added
      // or removed later does not change it
      const userConfig = withAuthorizedKeys(prov.settings.user_config, await authorizedKeyLines(q, p.userId));
      const owner = await insertApp(q, {
        app_id: appId, workspace_id: p.workspaceId, name: prov.name, kms_id: prov.kms_id,
        // this server's key service is the KMS of every type (the chain only decides what it releases)
        env_pubkey: this.kms.envPublicKey(appId), nonce: prov.nonce,
        contract_address: req.contract_address ?? null, deployer_address: req.deployer_address ?? null,
      });
      if (owner !== p.workspaceId) {
        throw conflict(ErrorCodes.CVM_APP_ID_CONFLICT, `app_id ${appId} belongs to another workspace.`);
      }
      // the CVM, its create operation, its first revision and the provision marked committed, in one statement
      // that also locks the node (against a racing commit or replica)
      const { cvm_id: cvmId } = await insertCommittedCvm(q, {
        vm_uuid: randomUUID(), workspace_id: p.workspaceId, creator_id: p.userId, app_id: appId, name: prov.name,
        node_id: elsewhere?.nodeId ?? prov.node_id, kms_id: prov.kms_id, instance_type: prov.instance_type, vcpu: prov.vcpu, memory_mb: prov.memory_mb,
        disk_gb: prov.disk_gb, image: prov.image, compose_hash: composeHash, app_compose: prov.app_compose,
        encrypted_env: encryptedEnv ?? prov.settings.encrypted_env, env_keys: envKeys, user_config: userConfig,
        ports: prov.settings.ports, gpus: elsewhere ? gpuConfigOf(elsewhere.gpuSlots) : prov.settings.gpus, hugepages: prov.settings.hugepages,
        pin_numa: prov.settings.pin_numa, listed: prov.listed,
      }, { correlation_id: randomUUID(), revision_id: newRevisionId(), triggered_by: p.userId, provision_id: prov.id }).catch((e) => {
        throw isNameUniqueViolation(e) ? nameTaken(prov.name) : e;
      });
      // the node was chosen at provision (or by the attempt before): check it still has room for this CVM now,
      // under the node's lock the insert took (an error rolls it all back). Concurrent provisions may all have
      // picked the same node: for a PHALA KMS CVM for which no node was asked, this places it again rather than
      // refusing it, and the commit is made again on that node (nothing of this attempt is kept).
      const placement = prov.settings.placement;
      await reserveAtCommit(q, {
        cvmId, nodeId: elsewhere?.nodeId ?? prov.node_id, image: prov.image, vcpu: prov.vcpu, memoryMb: prov.memory_mb, diskGb: prov.disk_gb,
        gpus: placement?.gpus ?? null,
        slots: elsewhere?.gpuSlots ?? (prov.settings.gpus?.gpus ?? []).map((g) => g.slot ?? '').filter(Boolean),
        replace: placement && !placement.node_requested && prov.kms_type === 'phala'
          ? { region: placement.region, labels: placement.labels, tried: [...tried] }
          : null,
      });
      return cvmId;
    });
    // each attempt that finds its node full names another, never one already tried; a few at most
    const tried = new Set<number>();
    let elsewhere: PlaceAgain | null = null;
    let cvmId: number;
    for (;;) {
      try {
        cvmId = await commitOnce(elsewhere);
        break;
      } catch (e) {
        if (!(e instanceof PlaceAgain)) throw e;
        tried.add(e.from);
        if (tried.size >= MAX_PLACEMENTS) throw e.refusal;
        elsewhere = e;
      }
    }
    this.onQueued();
    return (await findCvmById(this.db, cvmId))!;
  }

  /**
   * `GET /kms/phala/next_app_id`: the app ids the workspace's next PHALA-KMS provisions would get (the deployer's
   * CREATE addresses at its next nonces), reserving nothing. Nonces below the counter are used or skipped, so
   * these are free; a provision that names one takes it (`allocateAppId`).
   */
  async nextAppIds(p: Principal, counts: number) {
    const ws = await readDeployer(this.db, p.workspaceId);
    const first = Number(ws.next_nonce);
    return {
      app_ids: Array.from({ length: counts }, (_, i) => ({ app_id: createAddress(ws.team_wallet, first + i), nonce: first + i })),
    };
  }

  /**
   * For a provision of an on-chain KMS: the app must be registered in the chain's KMS contract, have its AppAuth
   * contract at `app_id`, allow the compose hash and (unless it allows any device) the node's device. Answers the
   * provision that was checked; null for a PHALA KMS provision (or none: the transaction says why).
   */
  private async checkOnChain(p: Principal, req: CommitRequest, appId: string, composeHash: string) {
    const ctx = await provisionChainContext(this.db, p.workspaceId, composeHash, appId);
    if (!ctx || ctx.kms.kms_type === 'phala') return null;
    const t = ctx.kms.kms_type.toUpperCase();
    const contract = req.contract_address ? normalizeAppId(req.contract_address) : appId;
    if (contract !== appId) {
      throw badRequest(ErrorCodes.INVALID_REQUEST,
        `contract_address ${req.contract_address} is not app_id ${appId}: with an on-chain KMS the app id is the address of the app's contract (deployAppAuth's appId).`);
    }
    const app = await this.chain.app(ctx.kms, appId, { composeHash, deviceId: ctx.device_id });
    const where = `the ${t} KMS contract ${ctx.kms.kms_contract_address} (chain ${ctx.kms.chain_id})`;
    if (!app.registered) {
      throw badRequest(ErrorCodes.APP_NOT_REGISTERED,
        `App ${appId} is not registered in ${where}: deploy it with deployAppAuth against that contract (kms_info.kms_contract_address of the provision), then commit with its appId.`);
    }
    if (!app.deployed) {
      throw badRequest(ErrorCodes.APP_NOT_REGISTERED, `App ${appId} is registered in ${where}, but no contract is deployed at that address on the chain.`);
    }
    if (!app.composeHashAllowed) {
      throw badRequest(ErrorCodes.HASH_NOT_ALLOWED,
        `compose_hash ${composeHash} is not allowed by app ${appId}'s contract: add it with addComposeHash (as the app's owner ${app.owner}), then commit again.`);
    }
    if (!app.allowAnyDevice && !app.deviceAllowed) {
      throw badRequest(ErrorCodes.DEVICE_NOT_ALLOWED,
        `The device this CVM was placed on (device_id ${ctx.device_id}) is not allowed by app ${appId}'s contract: add it with addDevice, or allow any device with setAllowAnyDevice, then commit again.`);
    }
    return ctx;
  }

  /** The KMS a provision asked for (`found`: what `readProvisionContext` read for it), or the 400 saying why not. */
  private resolveKms(kmsType: string | null | undefined, kmsId: string | null | undefined, found: KmsRecord | null): KmsRecord {
    const type = (kmsType ?? 'phala').toLowerCase();
    if (!(KMS_TYPES as readonly string[]).includes(type)) {
      throw badRequest(ErrorCodes.KMS_NOT_FOUND, `kms "${kmsType}" is not a KMS type: use PHALA, ETHEREUM or BASE.`);
    }
    const kms = found;
    if (!kms) {
      throw badRequest(ErrorCodes.KMS_NOT_FOUND, kmsId
        ? `KMS "${kmsId}" does not exist: list the KMS instances with GET /kms.`
        : `No ${type.toUpperCase()} KMS is configured on this server: use kms PHALA, or register an on-chain KMS.`);
    }
    if (kmsType && kms.kms_type !== type) {
      throw badRequest(ErrorCodes.KMS_NOT_FOUND, `KMS "${kmsId}" is a ${kms.kms_type.toUpperCase()} KMS, not ${type.toUpperCase()}.`);
    }
    return kms;
  }

  private resolveInstanceType(id: string | null | undefined, vcpu?: number | null, memory?: number | null) {
    if (!id) return vcpu || memory ? null : DEFAULT_INSTANCE_TYPES.find((t) => t.id === DEFAULT_INSTANCE_TYPE)!;
    const type = DEFAULT_INSTANCE_TYPES.find((t) => t.id === id);
    if (!type) {
      throw badRequest(ErrorCodes.INSTANCE_TYPE_NOT_FOUND,
        `instance_type "${id}" does not exist: use one of ${DEFAULT_INSTANCE_TYPES.map((t) => t.id).join(', ')} (GET /instance-types).`);
    }
    return type;
  }
}

/** A provision or commit for an on-chain KMS type whose chain this server is not configured with (any more). */
function chainGone(kmsType: string): ApiError {
  const t = kmsType.toUpperCase();
  return badRequest(ErrorCodes.KMS_NOT_FOUND,
    `The ${t} KMS has no chain configured on this server any more: use kms PHALA, or ask its operator to set OPENCVM_${t}_RPC_URL and OPENCVM_${t}_KMS_CONTRACT.`);
}

function nameTaken(name: string): ApiError {
  return conflict(ErrorCodes.DUPLICATE_CVM_NAME, `A CVM named "${name}" already exists in this workspace: choose another name or delete that CVM.`);
}

/**
 * PHALA-KMS app ids are CREATE addresses of the workspace's deployer and a nonce, as on Phala Cloud.
 * Without a nonce the next one is taken; with one, `app_id` must be its address and still unused.
 */
async function allocateAppId(q: Queryable, workspaceId: number, nonce?: number | null, appId?: string | null) {
  if (nonce == null) {
    // the usual case: take the next nonce in one statement, as late in the transaction as possible (the
    // workspace row it locks is held until the commit, and every provision of the workspace takes it)
    const next = await takeNextNonce(q, workspaceId);
    return { appId: createAddress(next.team_wallet, next.nonce), nonce: next.nonce };
  }
  // a nonce of the caller's choosing (from GET /kms/phala/next_app_id): its app id must be free
  const ws = await lockDeployer(q, workspaceId);
  const n = nonce;
  const derived = createAddress(ws.team_wallet, n);
  if (appId != null) {
    const wanted = normalizeAppId(appId);
    if (wanted !== derived) {
      throw badRequest(ErrorCodes.INVALID_REQUEST, `app_id ${appId} does not match nonce ${n}: for this workspace nonce ${n} gives app_id ${derived}.`);
    }
    if (await isAppIdTaken(q, derived)) throw conflict(ErrorCodes.CVM_APP_ID_CONFLICT, `app_id ${derived} (nonce ${n}) is already in use: take a fresh one from GET /kms/phala/next_app_id.`);
  }
  await advanceNonce(q, workspaceId, n + 1);
  return { appId: derived, nonce: n };
}

async function findProvision(q: Queryable, workspaceId: number, composeHash: string, appId: string): Promise<ProvisionForCommit> {
  const prov = await lockProvisionForCommit(q, workspaceId, composeHash, appId);
  if (!prov) {
    throw badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED, `compose_hash ${composeHash} was not provisioned in this workspace for app ${appId}: call POST /cvms/provision first.`);
  }
  if (prov.committed_at) {
    throw badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED, `compose_hash ${composeHash} was already committed: provision again to deploy another CVM.`);
  }
  if (prov.expires_at.getTime() <= Date.now()) {
    throw badRequest(ErrorCodes.HASH_INVALID_OR_EXPIRED, `The provision of compose_hash ${composeHash} expired at ${prov.expires_at.toISOString()}: provision again.`);
  }
  return prov;
}
