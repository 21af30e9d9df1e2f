import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { toEventSelector, toFunctionSelector, type AbiEvent, type AbiFunction } from 'viem';
import { formatAbiItem } from 'viem/utils';
import { appAuthAbi, kmsAuthAbi } from './artifacts.ts';
import { ARTIFACTS_FILE, compileContracts, renderArtifacts } from './compile.ts';

test('the checked-in artifacts are what the Solidity sources compile to (else: npm run contracts:build)', () => {
  const fresh = renderArtifacts(compileContracts());
  assert.ok(fresh === readFileSync(ARTIFACTS_FILE, 'utf8'), 'src/artifacts.ts is stale: run `npm run contracts:build` and commit the result');
});

/** The signatures dstack's DstackApp / DstackKms have, with their selectors (4 bytes of keccak-256): what dstack's
 * KMS, the official SDK and the `phala` CLI call. Written out here, not derived from our ABI, so a renamed
 * function, a changed parameter type or a reordered struct field fails. */
const APP_FUNCTIONS = {
  'isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))': '0x1e079198',
  'addComposeHash(bytes32)': '0xdfc77223',
  'removeComposeHash(bytes32)': '0x67b3f22c',
  'addDevice(bytes32)': '0x2a819728',
  'removeDevice(bytes32)': '0x1d266200',
  'allowedComposeHashes(bytes32)': '0x2f6622e5',
  'allowAnyDevice()': '0x3440a16a',
  'allowedDeviceIds(bytes32)': '0xbf8b211b',
  'requireTcbUpToDate()': '0x0aa58c83',
  'owner()': '0x8da5cb5b',
  'initialize(address,bool,bool,bytes32,bytes32)': '0x187515ca',
  'initialize(address,bool,bool,bool,bytes32,bytes32)': '0x9ed28193',
  'setAllowAnyDevice(bool)': '0x7c4beeb8',
  'setRequireTcbUpToDate(bool)': '0x6e4c7422',
  'disableUpgrades()': '0xec669036',
} as const;

const KMS_FUNCTIONS = {
  'kmsInfo()': '0x09177063',
  'gatewayAppId()': '0x95f51931',
  'registeredApps(address)': '0xa6c4cce9',
  'allowedOsImages(bytes32)': '0x9a4e1d18',
  'appImplementation()': '0x25a992da',
  'registerApp(address)': '0x17a1d80f',
  'deployAndRegisterApp(address,bool,bool,bool,bytes32,bytes32)': '0x9cb9c31f',
  'deployAndRegisterApp(address,bool,bool,bytes32,bytes32)': '0x8618169d',
  'setKmsInfo((bytes,bytes,bytes,bytes))': '0x7d025352',
  'setGatewayAppId(string)': '0x3971db27',
  'addKmsAggregatedMr(bytes32)': '0x3e32d346',
  'addKmsDevice(bytes32)': '0x4d5922a1',
  'addOsImageHash(bytes32)': '0x06a3ae96',
  'isKmsAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))': '0xe067ec9d',
  'isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))': '0x1e079198',
  'owner()': '0x8da5cb5b',
} as const;

const APP_EVENTS = {
  'ComposeHashAdded(bytes32)': '0xfecb34306dd9d8b785b54d65489d06afc8822a0893ddacedff40c50a4942d0af',
  'ComposeHashRemoved(bytes32)': '0x755b79bd4b0eeab344d032284a99003b2ddc018b646752ac72d681593a6e8947',
  'DeviceAdded(bytes32)': '0x67fc71ab96fe3fa3c6f78e9a00e635d591b7333ce611c0380bc577aac702243b',
  'PolicyChanged(address,bytes32,bytes32,bool)': '0x341d3bc64e32172fc5bcf27b0f7f69dc5adc19af64b7aa1dee361e5883c32375',
  'AllowAnyDeviceSet(bool)': '0xbb2cdb6c7b362202d40373f87bc4788301cca658f91711ac1662e1ad2cba4a20',
} as const;

const KMS_EVENTS = {
  'AppRegistered(address)': '0x0d540ad8f39e07d19909687352b9fa017405d93c91a6760981fbae9cf28bfef7',
  'AppDeployedViaFactory(address,address)': '0xfd86d7f6962eba3b7a3bf9129c06c0b2f885e1c61ef2c9f0dbb856be0deefdee',
} as const;

function functionsOf(abi: readonly { type: string }[]): Map<string, string> {
  return new Map(abi.filter((i): i is AbiFunction => i.type === 'function').map((f) => [formatAbiItem(f), toFunctionSelector(f)]));
}

function eventsOf(abi: readonly { type: string }[]): Map<string, AbiEvent> {
  return new Map(abi.filter((i): i is AbiEvent => i.type === 'event').map((e) => [formatAbiItem(e), e]));
}

test('our ABIs have dstack\'s function selectors', () => {
  for (const [name, abi, expected] of [
    ['AppAuth', appAuthAbi, APP_FUNCTIONS],
    ['KmsAuth', kmsAuthAbi, KMS_FUNCTIONS],
  ] as const) {
    const ours = functionsOf(abi);
    for (const [signature, selector] of Object.entries(expected)) {
      assert.equal(ours.get(signature), selector, `${name}.${signature}`);
    }
  }
});

test('our ABIs have dstack\'s event topics, with the same indexed arguments', () => {
  for (const [name, abi, expected] of [
    ['AppAuth', appAuthAbi, APP_EVENTS],
    ['KmsAuth', kmsAuthAbi, KMS_EVENTS],
  ] as const) {
    const ours = eventsOf(abi);
    for (const [signature, topic] of Object.entries(expected)) {
      const event = ours.get(signature);
      assert.ok(event, `${name} has no event ${signature}`);
      assert.equal(toEventSelector(event), topic, `${name}.${signature}`);
    }
  }
  // dstack's argument indexing, which log filters and decoders depend on.
  const indexed = (abi: readonly { type: string }[], sig: string) => eventsOf(abi).get(sig)!.inputs.map((i) => Boolean(i.indexed));
  assert.deepEqual(indexed(kmsAuthAbi, 'AppDeployedViaFactory(address,address)'), [true, true]);
  assert.deepEqual(indexed(kmsAuthAbi, 'AppRegistered(address)'), [false]);
  for (const sig of ['ComposeHashAdded(bytes32)', 'ComposeHashRemoved(bytes32)', 'DeviceAdded(bytes32)', 'DeviceRemoved(bytes32)']) {
    assert.deepEqual(indexed(appAuthAbi, sig), [false], sig);
  }
  assert.deepEqual(indexed(appAuthAbi, 'PolicyChanged(address,bytes32,bytes32,bool)'), [true, true, true, false]);
});

test('kmsInfo() answers the four byte strings of dstack\'s KmsInfo, in its order', () => {
  const kmsInfo = kmsAuthAbi.find((i) => i.type === 'function' && i.name === 'kmsInfo') as AbiFunction;
  assert.deepEqual(kmsInfo.outputs.map((o) => [o.name, o.type]), [
    ['k256Pubkey', 'bytes'],
    ['caPubkey', 'bytes'],
    ['quote', 'bytes'],
    ['eventlog', 'bytes'],
  ]);
  const isAppAllowed = appAuthAbi.find((i) => i.type === 'function' && i.name === 'isAppAllowed') as AbiFunction;
  assert.deepEqual(isAppAllowed.outputs.map((o) => o.type), ['bool', 'string']);
  const components = (isAppAllowed.inputs[0] as unknown as { components: readonly { name: string }[] }).components.map((c) => c.name);
  assert.deepEqual(components, ['appId', 'composeHash', 'instanceId', 'deviceId', 'mrAggregated', 'mrSystem', 'osImageHash', 'tcbStatus', 'advisoryIds']);
});
