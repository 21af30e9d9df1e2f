import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getComposeHash } from '@phala/dstack-sdk';
import { canonicalJson, composeHashOf, defaultAppIdOf, sha256Hex } from './compose-hash.ts';

// The cross-language example object of the dstack JS SDK's `getComposeHash` tests, and app-composes whose hashes
// were computed independently (dstack JS and Python SDKs, `sha256sum`).
const crossLanguage = {
  runner: 'docker-compose',
  docker_compose_file: 'docker-compose.yml',
  text: '你好世界',
  id: 'c73a3a4e-ce71-4c12-a1b7-78be1a2e48e0',
  b_number: 123,
  a_status: true,
  z_items: [3, 1, 2],
  nested: { gamma: 3.14, alpha: 'first' },
};

const realistic = {
  manifest_version: 2,
  name: 'hello',
  runner: 'docker-compose',
  docker_compose_file: 'services:\n  web:\n    image: nginx\n',
  kms_enabled: true,
  gateway_enabled: true,
  public_logs: true,
  public_sysinfo: true,
  public_tcbinfo: true,
  allowed_envs: ['FOO'],
  no_instance_id: false,
  secure_time: false,
};

const small = { runner: 'docker-compose', name: 'x', allowed_envs: ['A'], kms_enabled: true };

/** The `@phala/cloud` SDK's `dumpAppCompose` style (4-space indent, `": ` -> `":`), here only to check its hashes. */
function phalaStyle(obj: unknown): string {
  return JSON.stringify(JSON.parse(canonicalJson(obj)), null, 4).replaceAll('": ', '":');
}

test('getComposeHash cross-language example: deterministic string and hash', () => {
  const json = canonicalJson(crossLanguage);
  assert.equal(
    json,
    '{"a_status":true,"b_number":123,"docker_compose_file":"docker-compose.yml","id":"c73a3a4e-ce71-4c12-a1b7-78be1a2e48e0","nested":{"alpha":"first","gamma":3.14},"runner":"docker-compose","text":"你好世界","z_items":[3,1,2]}',
  );
  assert.equal(composeHashOf(json), '0705386656362891629ac994406f4e31ba5c805b9638538df415c56768a504f4');
});

test('compose hash small vectors: {"runner":...}, {}, explicit null', () => {
  assert.equal(composeHashOf(canonicalJson({ runner: 'docker-compose' })), '1120e42a7b5f2ca50128696ea414771441b4fa92373427108a7173181cc80b55');
  assert.equal(canonicalJson({}), '{}');
  assert.equal(composeHashOf(canonicalJson({})), '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  const withNull = { runner: 'docker-compose', n: null };
  assert.equal(canonicalJson(withNull), '{"n":null,"runner":"docker-compose"}');
  assert.equal(composeHashOf(canonicalJson(withNull)), 'd1593246f3a2ec4f7819d9f4e6fc9eb1011cbbf0b76a594c9c5525fee3db2c4f');
});

test('compose hash of a realistic compose: compact-sorted, insertion order, Phala style, default app_id', () => {
  const json = canonicalJson(realistic);
  assert.equal(
    json,
    '{"allowed_envs":["FOO"],"docker_compose_file":"services:\\n  web:\\n    image: nginx\\n","gateway_enabled":true,"kms_enabled":true,"manifest_version":2,"name":"hello","no_instance_id":false,"public_logs":true,"public_sysinfo":true,"public_tcbinfo":true,"runner":"docker-compose","secure_time":false}',
  );
  const hash = composeHashOf(json);
  assert.equal(hash, '4c55cab4e51d02558236f4f14ad834b3a34ca76c03aec7c130ed5b2aec095259');
  assert.equal(defaultAppIdOf(hash), '4c55cab4e51d02558236f4f14ad834b3a34ca76c');
  // The compose hash is over the exact bytes: other serialisations give other hashes.
  assert.equal(composeHashOf(JSON.stringify(realistic)), '3419f8d0eb0527acd14d1b04480572cdf2f917e162d5cb7ddf99e6a3e8ed8623');
  assert.equal(composeHashOf(phalaStyle(realistic)), 'afb394f70b038991dcaf20175a1c816725b03ca49fe67802250ea3c57f08a47c');
});

test('compose hash of a small compose: compact-sorted and Phala style', () => {
  assert.equal(composeHashOf(canonicalJson(small)), '09184a554a13f06a2c56cd2da4d789c79c2001fb778d9e7e4c42478cf948fe11');
  const phala = phalaStyle(small);
  assert.equal(
    phala,
    '{\n    "allowed_envs":[\n        "A"\n    ],\n    "kms_enabled":true,\n    "name":"x",\n    "runner":"docker-compose"\n}',
  );
  assert.equal(composeHashOf(phala), 'd7aec26980b04593fd68f77c3e0d1bc21eeb6191e8e2864a3c96bbb7eab9f2a1');
});

test('canonicalJson: NaN/Infinity become null, undefined vanishes, arrays keep order, nested sort', () => {
  assert.equal(
    canonicalJson({ b: NaN, a: Infinity, c: -Infinity, d: undefined, e: null, f: [NaN, undefined, { z: 1, y: 2 }] }),
    '{"a":null,"b":null,"c":null,"e":null,"f":[null,null,{"y":2,"z":1}]}',
  );
  assert.equal(canonicalJson([{ b: 1, a: [{ d: 1, c: 2 }] }, 'x']), '[{"a":[{"c":2,"d":1}],"b":1},"x"]');
  // UTF-16 code-unit order: uppercase before lowercase before non-ASCII.
  assert.equal(canonicalJson({ é: 1, b: 2, B: 3, _: 4 }), '{"B":3,"_":4,"b":2,"é":1}');
  assert.throws(() => canonicalJson(undefined), /no JSON representation/);
});

test('composeHashOf hashes exact UTF-8 bytes (trailing newline matters)', () => {
  const json = canonicalJson(small);
  assert.notEqual(composeHashOf(`${json}\n`), composeHashOf(json));
  assert.equal(composeHashOf('héllo'), sha256Hex(new TextEncoder().encode('héllo')));
  assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('defaultAppIdOf takes the first 40 hex chars and rejects garbage', () => {
  assert.equal(defaultAppIdOf(`0x${'AB'.repeat(32)}`), 'ab'.repeat(20));
  assert.throws(() => defaultAppIdOf('1234'), /at least 40/);
});

test('interop: @phala/dstack-sdk getComposeHash equals composeHashOf(canonicalJson(obj))', () => {
  const objects: Record<string, unknown>[] = [
    crossLanguage,
    realistic,
    small,
    {},
    { runner: 'docker-compose', n: null },
    { unicode: 'emoji 🚀 ünïcödé 你好 \u2028 "quoted" \\ back', tab: '\t' },
    { nested: { deep: { deeper: { z: [1, { y: 'b', x: 'a' }], a: true } } }, arr: [[3, 2], [1]] },
    { nums: [0, -0, 1e21, 1e-7, 3.14, NaN, Infinity], und: undefined, list: [undefined, null] },
    { manifest_version: 2, name: 'app', runner: 'bash', bash_script: 'echo hi', pre_launch_script: '' },
  ];
  for (const obj of objects) {
    // The SDK's AppCompose type requires `runner`; its hashing accepts any plain object.
    const sdkHash = getComposeHash(obj as Parameters<typeof getComposeHash>[0]);
    assert.equal(composeHashOf(canonicalJson(obj)), sdkHash, canonicalJson(obj));
  }
});
