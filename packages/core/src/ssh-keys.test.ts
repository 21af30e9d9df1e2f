import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { parseSshPublicKey, sshFingerprint, withAuthorizedKeys, type SshPublicKey } from './ssh-keys.ts';

/** Keys made with OpenSSH's ssh-keygen, each with the fingerprint `ssh-keygen -lf <file> -E sha256` printed. */
const VECTORS = [
  ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVt3pYWqWfNqTp1Mnia0USr+3nl2xBwEP8qMteYF+gn vec-ed25519@opencvm',
    'SHA256:YC6QoWZuyuEERU/YIInUEEOBwkhmuY/z1y7iGRLdTuI'],
  ['ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCurL+m9CRpRVlyUeQ2DfPRlLPviV0tuU17xYp3eSFAMVK94b7f0KEKdV4PUeYAnHmmNHqZea8VLbJFcs9lMVuY907zqLBb++blNsicM6CfmUR+q37BbcjrIet169BqMuQGbwttmJmqf6qEFbPTC5Ne9XRrv2bSfEC4IlvJgGPUnDsV3HhCHSOjRmgAFadhlONbmVA+Zzl6C3po6MGjs0nF33dswX/YXakh3peW7vQqy3fO8rgrxNjzYhoMiwmQpErZANpiGawIG8pqyVgYR2ffBrVrN6owr6dvt1cSeOAD+UV1tBGFYj6gyKzfJpx+Z+iVIOKvvAEBry5sgXGbmzSn vec-rsab2048@opencvm',
    'SHA256:ij7pf7ySMHoLn15tVCqzRPBpQK5ptvxzeHxA7vH3C98'],
  ['ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFbrUno4I/jiH3KEgDP4LhWMjozJURetO3utpT2upKU/qZNPu71dVORoay0P7CKL4p5tOvNeWe8URt81Ss93mNY= vec-ecdsab256@opencvm',
    'SHA256:RyIuW3p2kPsD7MmPrLkUSRNpoy2gw9yOxdLu13zdQwI'],
  ['ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBNHoS/IBM3Naqk94uGxSrFQwyvlWEt279d5eF/wUdmNWsTlWmG4B8bcqyV+qvXHQ07fjce24R6Htay6TUd+X3RP8rh/4TrjkgTnhAmI3fGFnTUtytruZD+5nf4CFz8y3zA== vec-ecdsab384@opencvm',
    'SHA256:SDLMFDUsKKpoygpellX/1vbItKMMUdM8OUdsh1cEiHw'],
  ['ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBABbBYBazPUg6uWbIkwJxWmIcXxtAqDVo7koDzrCuY0sWt+xPTmE2hSI4p62nKUIoDA6fIRQDHlZw/b//3hHJChhSAEdNP7ZFKW+z3h6x9Scvj8kCaw048dctG+TJUtQngVf4WYz+D5I79L1UWcOAsVQC7aW41sGO0KZf+y4VokyeFL2cQ== vec-ecdsab521@opencvm',
    'SHA256:mlPMEM0eLzq66xiaDMaPIR5JYOyMGJKlXkE2xa4+9Ws'],
] as const;

const ok = (text: string): SshPublicKey => {
  const k = parseSshPublicKey(text);
  if ('problem' in k) assert.fail(`refused: ${k.problem}`);
  return k;
};
const problemOf = (text: string): string => {
  const k = parseSshPublicKey(text);
  assert.ok('problem' in k, `accepted ${text.slice(0, 60)}`);
  return k.problem;
};

/** SSH wire strings: uint32 length + bytes. */
const sshString = (b: Buffer | string) => {
  const buf = Buffer.from(b);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length);
  return Buffer.concat([len, buf]);
};
const line = (type: string, ...parts: (Buffer | string)[]) => `${type} ${Buffer.concat(parts.map(sshString)).toString('base64')}`;

test('every key type ssh-keygen makes is accepted, with the fingerprint ssh-keygen prints', () => {
  for (const [text, fingerprint] of VECTORS) {
    const k = ok(text);
    assert.equal(k.fingerprint, fingerprint, text.split(' ')[0]);
    assert.equal(k.keyType, text.split(' ')[0]);
    assert.equal(k.comment, text.split(' ')[2]);
    assert.equal(k.line, text);
  }
});

test('the comment is optional, may hold spaces, and surrounding whitespace goes', () => {
  const [type, b64] = VECTORS[0][0].split(' ');
  const bare = ok(`  ${type}   ${b64}\n`);
  assert.equal(bare.comment, '');
  assert.equal(bare.line, `${type} ${b64}`);
  assert.equal(bare.fingerprint, VECTORS[0][1]);
  assert.equal(ok(`${type} ${b64} my laptop key`).comment, 'my laptop key');
});

test('a key from node:crypto, written in the SSH wire format, gets SHA-256 of its blob as fingerprint', () => {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const text = line('ssh-ed25519', 'ssh-ed25519', raw);
  const blob = Buffer.from(text.split(' ')[1], 'base64');
  assert.equal(ok(text).fingerprint, sshFingerprint(blob));
  assert.doesNotMatch(ok(text).fingerprint, /=$/, 'unpadded');
});

test('security-key types: sk-ssh-ed25519 and sk-ecdsa with their application', () => {
  const ed = ok(line('sk-ssh-ed25519@openssh.com', 'sk-ssh-ed25519@openssh.com', Buffer.alloc(32, 7), 'ssh:'));
  assert.equal(ed.keyType, 'sk-ssh-ed25519@openssh.com');
  const point = Buffer.concat([Buffer.of(4), Buffer.alloc(64, 9)]);
  assert.equal(ok(line('sk-ecdsa-sha2-nistp256@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com', 'nistp256', point, 'ssh:')).keyType,
    'sk-ecdsa-sha2-nistp256@openssh.com');
  assert.match(problemOf(line('sk-ssh-ed25519@openssh.com', 'sk-ssh-ed25519@openssh.com', Buffer.alloc(32, 7))), /application/);
});

test('garbage is refused with the reason', () => {
  const [, ed] = VECTORS[0][0].split(' ');
  const [, rsa] = VECTORS[1][0].split(' ');
  assert.match(problemOf(''), /empty/);
  assert.match(problemOf('hello world'), /"hello" is not a key type/);
  assert.match(problemOf('ssh-dss AAAAB3NzaC1kc3MAAACBAP'), /"ssh-dss" is not a key type/);
  assert.match(problemOf('ssh-ed25519'), /base64 part is missing/);
  assert.match(problemOf('ssh-ed25519 not*base64'), /not base64/);
  // the declared type and the blob's own differ
  assert.match(problemOf(`ssh-rsa ${ed}`), /"ssh-ed25519" key, not the "ssh-rsa"/);
  assert.match(problemOf(`ecdsa-sha2-nistp384 ${VECTORS[2][0].split(' ')[1]}`), /"ecdsa-sha2-nistp256" key, not the "ecdsa-sha2-nistp384"/);
  // truncated blob, extra bytes, wrong sizes
  assert.match(problemOf(`ssh-rsa ${rsa.slice(0, 200)}`), /RSA exponent or modulus is missing|not canonical/);
  assert.match(problemOf(line('ssh-ed25519', 'ssh-ed25519', Buffer.alloc(31))), /not 32 bytes/);
  assert.match(problemOf(line('ssh-ed25519', 'ssh-ed25519', Buffer.alloc(32), 'extra')), /bytes after the key/);
  assert.match(problemOf(line('ssh-rsa', 'ssh-rsa', Buffer.of(1, 0, 1), Buffer.concat([Buffer.of(0), Buffer.alloc(64, 0xff)]))), /512 bits; at least 1024/);
  assert.match(problemOf(line('ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp256', 'nistp384', Buffer.alloc(65, 4))), /curve is not nistp256/);
  assert.match(problemOf('-----BEGIN OPENSSH PRIVATE KEY-----'), /PEM block/);
  assert.match(problemOf(`${VECTORS[0][0]}\n${VECTORS[2][0]}`), /more than one line/);
  assert.match(problemOf(`ssh-ed25519 ${ed} a\u0001b`), /control characters/);
  assert.match(problemOf(`ssh-ed25519 ${'A'.repeat(9000)}`), /at most 8192/);
});

test('withAuthorizedKeys adds the keys to a JSON user_config once, and leaves a non-JSON one alone', () => {
  const [a, b] = [VECTORS[0][0], VECTORS[2][0]];
  assert.equal(withAuthorizedKeys(null, []), null);
  assert.deepEqual(JSON.parse(withAuthorizedKeys(null, [a])!), { ssh_authorized_keys: [a] });
  assert.deepEqual(JSON.parse(withAuthorizedKeys('', [a, b])!), { ssh_authorized_keys: [a, b] });
  assert.deepEqual(JSON.parse(withAuthorizedKeys(JSON.stringify({ hostname: 'h', ssh_authorized_keys: [b] }), [a, b])!), {
    hostname: 'h',
    ssh_authorized_keys: [b, a],
  });
  assert.equal(withAuthorizedKeys('opaque text', [a]), 'opaque text');
  assert.equal(withAuthorizedKeys('[1,2]', [a]), '[1,2]');
});
