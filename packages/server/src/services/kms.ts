/**
 * The built-in (PHALA-type) KMS. Its root keys are generated once and kept in the database, sealed
 * (AES-256-GCM) with the operator's seal key, so every replica of one database derives the same app keys;
 * they are never logged. Per-app keys are derived exactly as dstack's KMS derives them (`kms/src/crypto.rs`),
 * so an app's env-encryption key is a pure function of the root key and app_id.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiError,
  ErrorCodes,
  deriveAppDiskKey,
  deriveAppEnvKeyPair,
  deriveAppEnvSecret,
  deriveAppK256Key,
  fromHex,
  generateRootKeys,
  k256CompressedPublicKey,
  sha256Hex,
  signEnvPubkey,
  signEnvPubkeyV1,
  toHex,
  type KmsRecord,
} from '@opencvm/core';
import { ConfigError, type ChainConfig } from '../config.ts';
import type { Db, Queryable } from '../db/index.ts';
import { ChainUnavailableError, type ChainService } from './chain.ts';
import { cvmOnHost, type CvmOnHost } from '../store/cvms.ts';
import { findKms, setKmsGatewayAppId, upsertOffChainKms, upsertOnChainKms } from '../store/kms.ts';
import { nodeIdByKmsTokenHash } from '../store/nodes.ts';
import { insertSecretIfAbsent, readSecret } from '../store/secrets.ts';
import { seal, unseal } from './seal.ts';

export const BUILTIN_KMS_ID = 'kms-phala-builtin';
export const BUILTIN_KMS_VERSION = 'opencvm-kms/0.1.0';
/** The id of the KMS of an on-chain type (`kms-ethereum`, `kms-base`). */
export const onChainKmsId = (kmsType: string) => `kms-${kmsType}`;

export interface RootKeys {
  caScalar: Uint8Array;
  k256: Uint8Array;
}

/** The `server_secrets` name of the sealed root keys. */
const ROOT_KEYS_SECRET = 'kms_root_keys';
/** Bound into the seal (GCM's associated data): a sealed value opens only as what it was sealed as. */
const SEAL_PURPOSE = 'opencvm kms root keys v1';

/**
 * The seal key: `OPENCVM_SEAL_KEY` if set, otherwise the one in `<dataDir>/seal-key` (64 hex digits, mode
 * 0600), generated there on first start. Replicas of one database need the same one.
 */
export function sealKeyOf(dataDir: string, configured?: Buffer): Buffer {
  if (configured) return configured;
  const file = join(dataDir, 'seal-key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    try {
      // 'wx': if two starts race on one data dir, the first file stays and both read it below
      writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  chmodSync(file, 0o600);
  const text = readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(text)) {
    throw new ConfigError(`${file} does not hold a seal key (64 hex digits): restore it, or set OPENCVM_SEAL_KEY to the seal key of this database`);
  }
  return Buffer.from(text, 'hex');
}

function sealRootKeys(keys: RootKeys, sealKey: Buffer): string {
  return seal(Buffer.from(JSON.stringify({ ca_scalar: toHex(keys.caScalar), k256: toHex(keys.k256) })), sealKey, SEAL_PURPOSE);
}

/** The root keys in `sealed`, or null if `sealKey` is not the key they were sealed with. */
function openRootKeys(sealed: string, sealKey: Buffer): RootKeys | null {
  const plain = unseal(sealed, sealKey, SEAL_PURPOSE);
  if (!plain) return null;
  const j = JSON.parse(plain.toString('utf8')) as { ca_scalar: string; k256: string };
  return { caScalar: fromHex(j.ca_scalar), k256: fromHex(j.k256) };
}

/** Where servers before the root keys moved into the database kept them. */
export const legacyRootKeysFile = (dataDir: string) => join(dataDir, 'kms', 'root-keys.json');

function readLegacyRootKeys(file: string): RootKeys | null {
  if (!existsSync(file)) return null;
  const j = JSON.parse(readFileSync(file, 'utf8')) as { ca_scalar: string; k256: string };
  return { caScalar: fromHex(j.ca_scalar), k256: fromHex(j.k256) };
}

const sameKeys = (a: RootKeys, b: RootKeys) =>
  timingSafeEqual(Buffer.concat([a.caScalar, a.k256]), Buffer.concat([b.caScalar, b.k256]));

/**
 * The KMS root keys from the database, opened with the seal key. On the first start of a database they are
 * created: imported from `<dataDir>/kms/root-keys.json` if an earlier version left them there (so its apps
 * keep their keys), generated otherwise; when replicas start together the first writer wins and every one
 * uses what was stored. A seal key that cannot open the stored keys stops the start (ConfigError): new keys
 * would give every app another key.
 */
export async function loadRootKeys(q: Queryable, opts: { dataDir: string; sealKey?: Buffer }): Promise<RootKeys> {
  const sealKey = sealKeyOf(opts.dataDir, opts.sealKey);
  const legacyFile = legacyRootKeysFile(opts.dataDir);
  const legacy = readLegacyRootKeys(legacyFile);
  let stored = await readSecret(q, ROOT_KEYS_SECRET);
  if (stored === null) {
    await insertSecretIfAbsent(q, ROOT_KEYS_SECRET, sealRootKeys(legacy ?? generateRootKeys(), sealKey));
    stored = (await readSecret(q, ROOT_KEYS_SECRET))!;
  }
  const keys = openRootKeys(stored, sealKey);
  if (!keys) {
    throw new ConfigError(
      'the KMS root keys in the database were sealed with another seal key: set OPENCVM_SEAL_KEY to the seal key ' +
        'the other servers of this database use (their OPENCVM_SEAL_KEY, or the seal-key file in the data directory ' +
        'of the server that started first); this server did not start, so that no app key changes',
    );
  }
  if (legacy && !sameKeys(legacy, keys)) {
    throw new ConfigError(
      `the KMS root keys in ${legacyFile} are not those in the database (another server created them first): ` +
        'apps deployed with this file would get other keys. Move the file away to use the database\'s keys',
    );
  }
  return keys;
}

/** What a simulated guest states about itself in `GetAppKey.vm_config` (stands in for an attested quote). */
interface GuestClaims {
  app_id: string;
  compose_hash: string;
  instance_id?: string;
  host_vm_id: string;
  os_image_hash?: string;
}

export class KmsService {
  private pubkeys = new Map<string, string>();
  readonly k256Pubkey: string;

  constructor(
    private readonly db: Db,
    private readonly root: RootKeys,
    /** the server's public URL, known once it listens */
    private readonly publicUrl: { value: string },
    /** the chains of the on-chain KMS types, whose KMS contracts decide their apps' boots */
    private readonly chain?: ChainService,
  ) {
    this.k256Pubkey = '0x' + toHex(k256CompressedPublicKey(root.k256));
  }

  /** The record of the built-in KMS, as `KmsInfo` reports it. */
  builtinRecord(): KmsRecord {
    return {
      id: BUILTIN_KMS_ID,
      slug: 'phala',
      kms_type: 'phala',
      url: `${this.publicUrl.value}/kms`,
      version: BUILTIN_KMS_VERSION,
      chain_id: null,
      kms_contract_address: null,
      gateway_app_id: null,
    };
  }

  /**
   * Insert or refresh the built-in KMS row (its URL follows the server's public URL), and one row per
   * configured chain: the same key service, whose release policy for those apps is the chain's KMS contract.
   */
  async register(chains: ChainConfig[] = []): Promise<void> {
    await upsertOffChainKms(this.db, this.builtinRecord());
    for (const c of chains) {
      await upsertOnChainKms(this.db, {
        id: onChainKmsId(c.kmsType),
        slug: c.kmsType,
        kms_type: c.kmsType,
        url: `${this.publicUrl.value}/kms`,
        version: BUILTIN_KMS_VERSION,
        chain_id: c.chainId,
        kms_contract_address: c.kmsContract,
      });
    }
  }

  /**
   * Record in each on-chain KMS's row the gateway app id its contract names (`gatewayAppId()`; none: null), which
   * `kms_info.gateway_app_id` shows. A chain that does not answer keeps what was recorded; answers which failed.
   */
  async recordGatewayAppIds(chain: ChainService): Promise<{ kmsType: string; error: unknown }[]> {
    const failed: { kmsType: string; error: unknown }[] = [];
    await Promise.all(
      chain.chains().map(async (c) => {
        try {
          const kms = await findKms(this.db, onChainKmsId(c.kmsType));
          if (!kms) return;
          await setKmsGatewayAppId(this.db, kms.id, (await chain.kmsSettings(kms)).gatewayAppId || null);
        } catch (error) {
          failed.push({ kmsType: c.kmsType, error });
        }
      }),
    );
    return failed;
  }

  /** The app's X25519 env-encryption public key (hex). Derivation is cached: it costs a P-256 key. */
  envPublicKey(appId: string): string {
    let pub = this.pubkeys.get(appId);
    if (!pub) {
      pub = toHex(deriveAppEnvKeyPair(this.root.caScalar, appId).publicKey);
      if (this.pubkeys.size > 50_000) this.pubkeys.clear();
      this.pubkeys.set(appId, pub);
    }
    return pub;
  }

  /** `{public_key, signature}`: the signature is dstack's legacy one, verifiable with `verifyEnvEncryptPublicKey`. */
  signedEnvPublicKey(appId: string): { public_key: string; signature: string } {
    const pub = this.envPublicKey(appId);
    return { public_key: pub, signature: toHex(signEnvPubkey(this.root.k256, appId, fromHex(pub))) };
  }

  /** dstack's `PublicKeyResponse`: the legacy signature plus the timestamped `signature_v1`. */
  publicKeyResponse(appId: string) {
    const { public_key, signature } = this.signedEnvPublicKey(appId);
    const timestamp = Math.floor(Date.now() / 1000);
    const signature_v1 = toHex(signEnvPubkeyV1(this.root.k256, appId, fromHex(public_key), timestamp));
    return { public_key, signature, timestamp, signature_v1 };
  }

  /**
   * `GetAppKey` for a guest on one of our hosts. Without TDX the host's KMS token stands in for the
   * attestation; the release rule is dstack's: the app must exist and the compose hash the guest booted must
   * be the one the control plane placed on that host for that VM. For an app of an on-chain KMS (ETHEREUM,
   * BASE) the chain has the last word, as dstack's KMS asks its auth webhook: the KMS contract's
   * `isAppAllowed(AppBootInfo)` must allow this boot at this moment (app registered, OS image, compose hash,
   * device), and a chain that does not answer releases nothing.
   */
  async getAppKey(bearer: string | undefined, vmConfig: string) {
    const deny = (reason: string) => new ApiError(403, ErrorCodes.CVM_ACCESS_DENIED, `Boot denied: ${reason}`);
    if (!bearer) throw deny('no host credential');
    const nodeId = await nodeIdByKmsTokenHash(this.db, sha256Hex(bearer));
    if (nodeId === null) throw deny('unknown host credential');
    let claims: GuestClaims;
    try {
      claims = JSON.parse(vmConfig) as GuestClaims;
    } catch {
      throw deny('vm_config is not JSON');
    }
    const cvm = await cvmOnHost(this.db, nodeId, claims.host_vm_id);
    if (!cvm) throw deny('no CVM is placed on this host with that VM id');
    const onChain = cvm.kms_type !== 'phala';
    if (!onChain && cvm.kms_id !== BUILTIN_KMS_ID) throw deny('the app uses another KMS');
    if (onChain && cvm.kms_id !== onChainKmsId(cvm.kms_type)) throw deny('the app uses another KMS');
    if (cvm.app_id !== String(claims.app_id).toLowerCase()) throw deny('app id does not match the CVM');
    if (cvm.compose_hash !== String(claims.compose_hash).toLowerCase()) throw deny('compose hash is not allowed for this app');
    if (onChain) await this.checkOnChain(cvm, claims, deny);
    // the guest needs the env secret only (its public key is what provision handed out)
    const envSecret = deriveAppEnvSecret(this.root.caScalar, cvm.app_id);
    const k256 = deriveAppK256Key(this.root.k256, cvm.app_id);
    return {
      ca_cert: '',
      disk_crypt_key: toHex(deriveAppDiskKey(this.root.caScalar, cvm.app_id, claims.instance_id ?? '')),
      env_crypt_key: toHex(envSecret),
      k256_key: toHex(k256.key),
      k256_signature: toHex(k256.signature),
      gateway_app_id: 'any',
      os_image_hash: claims.os_image_hash ?? '',
    };
  }

  /**
   * The KMS contract's verdict on this boot, read now (never cached): the app id and the compose hash the guest
   * booted, its instance id, the device of the host the CVM is placed on (as the server registered it), the OS
   * image the guest claims and TCB `UpToDate` (no attestation here to say otherwise). Denied with the contract's
   * reason; a chain that does not answer (or is not configured any more) denies too.
   */
  private async checkOnChain(cvm: CvmOnHost, claims: GuestClaims, deny: (reason: string) => ApiError): Promise<void> {
    const chainName = cvm.kms_type.toUpperCase();
    if (!this.chain?.chainOf(cvm.kms_type)) throw deny(`the ${chainName} KMS has no chain configured on this server`);
    let verdict: { allowed: boolean; reason: string };
    try {
      verdict = await this.chain.isAppAllowed({ kms_type: cvm.kms_type }, {
        appId: cvm.app_id,
        composeHash: cvm.compose_hash,
        instanceId: claims.instance_id || null,
        deviceId: cvm.device_id,
        osImageHash: claims.os_image_hash || null,
        tcbStatus: 'UpToDate',
        advisoryIds: [],
      });
    } catch (e) {
      if (e instanceof ChainUnavailableError) throw deny(`the ${chainName} chain did not answer: ${e.why}`);
      throw e;
    }
    if (!verdict.allowed) throw deny(verdict.reason || `the ${chainName} KMS contract does not allow this boot`);
  }
}
