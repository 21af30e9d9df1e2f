/**
 * The built-in (PHALA-type) KMS. Its root keys are generated on first start and kept in the data dir
 * (mode 0600, never logged); per-app keys are derived exactly as dstack's KMS derives them
 * (`kms/src/crypto.rs`), so an app's env-encryption key is a pure function of the root key and app_id.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
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
import type { Db } from '../db/index.ts';
import { cvmOnHost } from '../store/cvms.ts';
import { upsertOffChainKms } from '../store/kms.ts';
import { nodeIdByKmsTokenHash } from '../store/nodes.ts';

export const BUILTIN_KMS_ID = 'kms-phala-builtin';
export const BUILTIN_KMS_VERSION = 'opencvm-kms/0.1.0';

interface RootKeys {
  caScalar: Uint8Array;
  k256: Uint8Array;
}

/** Load the root keys from `<dataDir>/kms/root-keys.json`, creating them on first start. */
export function loadOrCreateRootKeys(dataDir: string): RootKeys {
  const dir = join(dataDir, 'kms');
  const file = join(dir, 'root-keys.json');
  if (existsSync(file)) {
    const j = JSON.parse(readFileSync(file, 'utf8')) as { ca_scalar: string; k256: string };
    return { caScalar: fromHex(j.ca_scalar), k256: fromHex(j.k256) };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = generateRootKeys();
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ ca_scalar: toHex(keys.caScalar), k256: toHex(keys.k256) }), { mode: 0o600 });
  renameSync(tmp, file);
  chmodSync(file, 0o600);
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

  /** Insert or refresh the built-in KMS row (its URL follows the server's public URL). */
  async register(): Promise<void> {
    await upsertOffChainKms(this.db, this.builtinRecord());
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
   * attestation; the release rule is dstack's: the app must exist and the compose hash the guest
   * booted must be the one the control plane placed on that host for that VM.
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
    if (cvm.kms_id !== BUILTIN_KMS_ID) throw deny('the app uses another KMS');
    if (cvm.app_id !== String(claims.app_id).toLowerCase()) throw deny('app id does not match the CVM');
    if (cvm.compose_hash !== String(claims.compose_hash).toLowerCase()) throw deny('compose hash is not allowed for this app');
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
}
