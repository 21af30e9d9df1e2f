/**
 * What an app may boot, and where: for an on-chain KMS (ETHEREUM, BASE) read from the chain at the moment of the
 * request (the KMS contract's allow-lists, the app contract's compose hashes and devices), for the PHALA KMS from
 * this server's records (the compose hashes the app has run or been provisioned with; any of this server's
 * nodes). Reads only: nothing here writes, on the chain or in the database. A chain that does not answer is a
 * 503 `ERR-02-016` (ChainService).
 */
import {
  ErrorCodes,
  badRequest,
  type AppRecord,
  type CvmView,
  type KmsRecord,
  type z,
  type isAllowedSchema,
  type deviceAllowlistSchema,
  type kmsOnChainDetailSchema,
  type appCvmsIsAllowedSchema,
} from '@opencvm/core';
import type { Db } from '../db/index.ts';
import { appHasComposeHash, kmsOfApp } from '../store/apps.ts';
import { listCvmsOfApps } from '../store/cvms.ts';
import { firstKmsOfType } from '../store/kms.ts';
import { findNode, listNodes, listOsImages } from '../store/nodes.ts';
import type { Principal } from './auth.ts';
import type { ChainService } from './chain.ts';

type IsAllowed = z.input<typeof isAllowedSchema>;

/** 32-byte hex as the server keeps it: lowercase, no `0x`. */
const bare = (h: string) => h.replace(/^0x/i, '').toLowerCase();
const addressOf = (appId: string) => `0x${bare(appId)}`;

/** What is asked: the app, its KMS, a compose hash and (optionally) a device. */
interface Question {
  appId: string;
  kms: KmsRecord;
  composeHash: string;
  deviceId: string | null;
}

export class AllowlistService {
  constructor(
    private readonly db: Db,
    private readonly chain: ChainService,
  ) {}

  /** `GET /kms/on-chain/{chain}`: the chain's KMS contract and what it allows of the nodes' devices and OS images. */
  async kmsOnChainDetail(chainName: string): Promise<z.input<typeof kmsOnChainDetailSchema>> {
    const type = chainName.toLowerCase();
    const config = this.chain.chainOf(type);
    const kms = config ? await firstKmsOfType(this.db, type) : null;
    if (!config || !kms) {
      const configured = this.chain.chains().map((c) => `${c.kmsType} (chain id ${c.chainId})`);
      throw badRequest(
        ErrorCodes.KMS_NOT_FOUND,
        `No on-chain KMS "${chainName}" is configured on this server: ${configured.length ? `use ${configured.join(' or ')}` : 'it has none (OPENCVM_ETHEREUM_* / OPENCVM_BASE_*; ask its operator)'}.`,
      );
    }
    const [nodes, images] = await Promise.all([listNodes(this.db), listOsImages(this.db)]);
    const devices = [...new Map(nodes.filter((n) => n.device_id).map((n) => [n.device_id, n.name])).entries()];
    const hashes = [...new Set(images.flatMap((i) => (i.os_image_hash ? [i.os_image_hash] : [])))];
    const [deviceAllowed, imageAllowed] = await Promise.all([
      this.chain.kmsDevices(kms, devices.map(([d]) => d)),
      this.chain.osImages(kms, hashes),
    ]);
    return {
      chain_name: config.kmsType,
      chain_id: config.chainId,
      contracts: [
        {
          contract_address: kms.kms_contract_address ?? config.kmsContract,
          chain_name: config.kmsType,
          chain_id: config.chainId,
          devices: devices.map(([device_id, node_name]) => ({ device_id, node_name, on_chain_allowed: deviceAllowed.get(device_id) ?? false })),
          os_images: images.map((i) => ({
            name: i.name,
            version: i.version,
            os_image_hash: i.os_image_hash,
            on_chain_allowed: i.os_image_hash ? (imageAllowed.get(i.os_image_hash) ?? false) : null,
          })),
        },
      ],
    };
  }

  /**
   * `GET /apps/{app_id}/device-allowlist`. On-chain: the nodes' devices the app's contract allows, and the
   * devices of the nodes its live CVMs are on (allowed or not). PHALA: every node's device (any of them may boot it).
   */
  async deviceAllowlist(p: Principal, app: AppRecord): Promise<z.input<typeof deviceAllowlistSchema>> {
    const kms = await this.kmsOf(app);
    const [nodes, cvms] = await Promise.all([listNodes(this.db), listCvmsOfApps(this.db, p.workspaceId, [app.app_id])]);
    const names = new Map(nodes.filter((n) => n.device_id).map((n) => [n.device_id, n.name]));
    const cvmIds = new Map<string, number[]>();
    for (const c of cvms) {
      if (!c.node.device_id) continue;
      names.set(c.node.device_id, c.node.name);
      cvmIds.set(c.node.device_id, [...(cvmIds.get(c.node.device_id) ?? []), c.id]);
    }
    if (kms.chain_id === null) {
      return {
        is_onchain_kms: false,
        allow_any_device: null,
        chain_id: null,
        app_contract_address: null,
        devices: [...names].map(([device_id, node_name]) => ({
          device_id,
          node_name,
          cvm_ids: cvmIds.get(device_id) ?? [],
          allowed_onchain: false,
          status: 'allowed' as const,
        })),
      };
    }
    const { allowAnyDevice, allowed } = await this.chain.devices(kms, app.app_id, [...names.keys()]);
    return {
      is_onchain_kms: true,
      allow_any_device: allowAnyDevice,
      chain_id: kms.chain_id,
      app_contract_address: addressOf(app.app_id),
      devices: [...names]
        .filter(([d]) => allowed.get(d) || cvmIds.has(d))
        .map(([device_id, node_name]) => ({
          device_id,
          node_name,
          cvm_ids: cvmIds.get(device_id) ?? [],
          allowed_onchain: allowed.get(device_id) === true,
          status: allowed.get(device_id) ? ('allowed' as const) : ('not-allowed' as const),
        })),
    };
  }

  /** `POST /cvms/{id}/is-allowed`: the CVM's compose hash on its node's device, unless others are given. */
  async cvmIsAllowed(cvm: CvmView, body: { compose_hash?: string | null; node_id?: number | null; device_id?: string | null } | null | undefined): Promise<IsAllowed> {
    const deviceId = (await this.deviceOf(body)) ?? (cvm.node.device_id || null);
    const verdict = await this.verdict({ appId: cvm.app_id, kms: cvm.kms, composeHash: bare(body?.compose_hash ?? cvm.compose_hash), deviceId });
    return { cvm_id: cvm.id, ...verdict };
  }

  /** `POST /apps/{app_id}/is-allowed`: a compose hash, on a device if one is named (by id or by node). */
  async appIsAllowed(app: AppRecord, body: { compose_hash: string; node_id?: number | null; device_id?: string | null; chain_id?: number | null }): Promise<IsAllowed> {
    const kms = await this.kmsOf(app);
    if (body.chain_id != null && body.chain_id !== kms.chain_id) {
      throw badRequest(
        ErrorCodes.INVALID_REQUEST,
        `chain_id ${body.chain_id} is not app ${app.app_id}'s chain: its KMS is ${kms.chain_id === null ? 'PHALA, on no chain' : `${kms.kms_type.toUpperCase()}, chain id ${kms.chain_id}`}. Leave chain_id out or send that one.`,
      );
    }
    return this.verdict({ appId: app.app_id, kms, composeHash: bare(body.compose_hash), deviceId: await this.deviceOf(body) });
  }

  /** `POST /apps/{app_id}/cvms/is-allowed`: each live CVM's compose hash on its node's device. */
  async appCvmsIsAllowed(p: Principal, app: AppRecord): Promise<z.input<typeof appCvmsIsAllowedSchema>> {
    const kms = await this.kmsOf(app);
    const cvms = await listCvmsOfApps(this.db, p.workspaceId, [app.app_id]);
    const checked = cvms.filter((c) => c.node.device_id);
    const results = await Promise.all(
      checked.map(async (c) => ({
        ...(await this.verdict({ appId: app.app_id, kms, composeHash: c.compose_hash, deviceId: c.node.device_id })),
        cvm_id: c.id,
      })),
    );
    const errors = results.filter((r) => r.error).length;
    const allowed = results.filter((r) => r.is_allowed).length;
    return {
      is_onchain: kms.chain_id !== null,
      results,
      total: cvms.length,
      allowed_count: allowed,
      denied_count: results.length - allowed - errors,
      error_count: errors,
      skipped_cvm_ids: cvms.filter((c) => !c.node.device_id).map((c) => c.id),
    };
  }

  /** The verdict on a compose hash (and a device): from the chain for an on-chain KMS, from the records for PHALA. */
  private async verdict(q: Question): Promise<IsAllowed> {
    if (q.kms.chain_id === null) {
      const [composeHashAllowed, nodes] = await Promise.all([
        appHasComposeHash(this.db, q.appId, q.composeHash),
        q.deviceId ? listNodes(this.db) : Promise.resolve([]),
      ]);
      const deviceAllowed = q.deviceId ? nodes.some((n) => n.device_id === q.deviceId) : null;
      return {
        app_contract_address: '',
        compose_hash: q.composeHash,
        device_id: q.deviceId ?? '',
        compose_hash_allowed: composeHashAllowed,
        allow_any_device: false,
        device_id_allowed: deviceAllowed,
        is_allowed: composeHashAllowed && deviceAllowed !== false,
        error: null,
      };
    }
    const r = await this.chain.app(q.kms, q.appId, { composeHash: q.composeHash, deviceId: q.deviceId });
    const kmsName = q.kms.kms_type.toUpperCase();
    const error = !r.registered
      ? `App ${addressOf(q.appId)} is not registered in the ${kmsName} KMS contract ${q.kms.kms_contract_address}.`
      : !r.deployed
        ? `No app contract is deployed at ${addressOf(q.appId)} on the ${kmsName} chain.`
        : null;
    const deviceOk = q.deviceId === null || r.allowAnyDevice || r.deviceAllowed === true;
    return {
      app_contract_address: addressOf(q.appId),
      compose_hash: q.composeHash,
      device_id: q.deviceId ?? '',
      compose_hash_allowed: r.composeHashAllowed,
      allow_any_device: r.allowAnyDevice,
      device_id_allowed: r.deviceAllowed,
      is_allowed: error === null && r.composeHashAllowed && deviceOk,
      error,
    };
  }

  /** The device a request names: `device_id`, else the device of node `node_id`, else null. */
  private async deviceOf(body: { node_id?: number | null; device_id?: string | null } | null | undefined): Promise<string | null> {
    if (body?.device_id) return bare(body.device_id);
    if (body?.node_id == null) return null;
    const node = await findNode(this.db, body.node_id);
    if (!node?.device_id) {
      throw badRequest(
        ErrorCodes.NODE_NOT_FOUND,
        node ? `Node ${body.node_id} reports no device id: name a device_id instead.` : `Node ${body.node_id} does not exist: pick one from GET /teepods/available.`,
      );
    }
    return node.device_id;
  }

  private async kmsOf(app: AppRecord): Promise<KmsRecord> {
    const kms = await kmsOfApp(this.db, app.app_id);
    // an app row always names its KMS (a foreign key); this is a guard for the type
    if (!kms) throw badRequest(ErrorCodes.KMS_NOT_FOUND, `App ${app.app_id} has no KMS on record.`);
    return kms;
  }
}
