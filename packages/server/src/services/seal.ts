/**
 * Sealing of secrets the server keeps in its database (the KMS root keys, hosts' auth tokens): AES-256-GCM
 * under the seal key (`sealKeyOf` in `kms.ts`), with a purpose string bound in as associated data, so a
 * sealed value opens only as what it was sealed as. The stored form is one JSON text:
 * `{"v":1,"alg":"aes-256-gcm","iv","tag","data"}` (base64).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** `plain` sealed under `sealKey` for `purpose`. */
export function seal(plain: Buffer, sealKey: Buffer, purpose: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealKey, iv);
  cipher.setAAD(Buffer.from(purpose));
  const data = Buffer.concat([cipher.update(plain), cipher.final()]);
  return JSON.stringify({ v: 1, alg: 'aes-256-gcm', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') });
}

/** What `sealed` holds, or null if it was not sealed under `sealKey` for `purpose` (or is not a sealed value). */
export function unseal(sealed: string, sealKey: Buffer, purpose: string): Buffer | null {
  try {
    const s = JSON.parse(sealed) as { iv: string; tag: string; data: string };
    const decipher = createDecipheriv('aes-256-gcm', sealKey, Buffer.from(s.iv, 'base64'));
    decipher.setAAD(Buffer.from(purpose));
    decipher.setAuthTag(Buffer.from(s.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(s.data, 'base64')), decipher.final()]);
  } catch {
    return null;
  }
}
