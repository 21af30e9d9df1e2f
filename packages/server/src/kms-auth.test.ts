/**
 * dstack-kms's auth webhook (`GET /kms-auth/{kms_type}/`, `POST /kms-auth/{kms_type}/bootAuth/app|kms`) against
 * two real local chains (ETHEREUM and BASE, each with our KMS contract), driven with dstack's BootInfo as
 * dstack-kms sends it (camelCase, full-length lowercase hex without 0x) and as dstack's auth-eth test sends it
 * (short, 0x-prefixed). Every refusal reason of both contract checks is reached; no API key is sent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { appAuthAbi, chainAt, kmsAuthAbi, type ChainAccount } from '@opencvm/contracts';
import { defaultImages } from '@opencvm/vmm-sim';
import { createPublicClient, createWalletClient, http, parseEventLogs, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { startTestChain, type TestChain } from './testing/chain.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';

let eth: TestChain;
let base: TestChain;
let env: TestEnv;

before(async () => {
  eth = await startTestChain();
  base = await startTestChain({ chainId: 8453, kmsType: 'base' });
  env = await startTestEnv({ config: { chains: [eth.config, base.config] } });
});
after(async () => {
  await env?.close();
  await eth?.stop();
  await base?.stop();
});

const prodImage = defaultImages().find((i) => !i.isDev)!.osImageHash;
const devImage = defaultImages().find((i) => i.isDev)!.osImageHash;
const composeHash = '3c'.repeat(32);
const deviceId = '7e'.repeat(32);
const mrAggregated = 'a1'.repeat(32);

function walletOf(t: TestChain, who: ChainAccount) {
  const c = chainAt(t.chain.rpcUrl, t.config.chainId);
  const account = privateKeyToAccount(who.privateKey);
  const client = createPublicClient({ chain: c, transport: http(t.chain.rpcUrl) });
  const wallet = createWalletClient({ account, chain: c, transport: http(t.chain.rpcUrl) });
  return { account, client, wallet };
}

async function mined(t: TestChain, hash: Hex) {
  const receipt = await walletOf(t, t.user).client.waitForTransactionReceipt({ hash });
  assert.equal(receipt.status, 'success');
  return receipt;
}

/** An app deployed through the KMS contract's factory by the user, allowing `composeHash` on `deviceId`. */
async function deployApp(t: TestChain, opts: { requireTcbUpToDate?: boolean } = {}): Promise<string> {
  const { account, wallet } = walletOf(t, t.user);
  const hash = await wallet.writeContract({
    address: t.config.kmsContract as Address,
    abi: kmsAuthAbi,
    functionName: 'deployAndRegisterApp',
    args: [account.address, false, opts.requireTcbUpToDate ?? false, false, `0x${deviceId}`, `0x${composeHash}`],
  });
  const [ev] = parseEventLogs({ abi: kmsAuthAbi, logs: (await mined(t, hash)).logs, eventName: 'AppDeployedViaFactory' });
  return ev!.args.appId.slice(2).toLowerCase();
}

/** dstack's BootInfo as dstack-kms posts it: every field, full length, lowercase hex without 0x. */
function bootInfo(appId: string, over: Record<string, unknown> = {}) {
  return {
    teeVariant: 'dstack-tdx',
    mrAggregated,
    osImageHash: prodImage,
    mrSystem: 'b2'.repeat(32),
    appId,
    composeHash,
    instanceId: '5d'.repeat(20),
    deviceId,
    keyProviderInfo: Buffer.from(JSON.stringify({ name: 'kms', id: '3059301306072a8648ce3d0201' })).toString('hex'),
    tcbStatus: 'UpToDate',
    advisoryIds: [],
    ...over,
  };
}

async function post(path: string, body: unknown, raw = false) {
  const res = await fetch(`${env.server.url}/kms-auth/${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'User-Agent': 'dstack-kms/0.5.3' },
    body: raw ? (body as string) : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const appAuth = (kmsType: string, body: unknown) => post(`${kmsType}/bootAuth/app`, body);
const kmsAuth = (kmsType: string, body: unknown) => post(`${kmsType}/bootAuth/kms`, body);

test('GET /kms-auth/{type}/: each chain\'s KMS contract, chain id, gateway app id and app implementation', async () => {
  const { wallet } = walletOf(eth, eth.kmsOwner);
  await mined(eth, await wallet.writeContract({ address: eth.config.kmsContract as Address, abi: kmsAuthAbi, functionName: 'setGatewayAppId', args: ['gw-eth'] }));
  for (const [t, gateway] of [[eth, 'gw-eth'], [base, '']] as const) {
    const res = await fetch(`${env.server.url}/kms-auth/${t.config.kmsType}/`);
    assert.equal(res.status, 200);
    const impl = await walletOf(t, t.user).client.readContract({ address: t.config.kmsContract as Address, abi: kmsAuthAbi, functionName: 'appImplementation' });
    assert.deepEqual(await res.json(), {
      status: 'ok', kmsContractAddr: t.config.kmsContract, gatewayAppId: gateway, chainId: t.config.chainId,
      appAuthImplementation: impl, appImplementation: impl,
    });
  }
  for (const type of ['phala', 'optimism']) {
    const res = await fetch(`${env.server.url}/kms-auth/${type}/`);
    assert.equal(res.status, 404);
    const err = (await res.json()) as any;
    assert.equal(err.detail.error_code, 'ERR-02-011');
    assert.match(err.detail.message, /No chain is configured for "(phala|optimism)".*\/kms-auth\/ethereum or \/kms-auth\/base/);
  }
});

test('bootAuth/app: allowed for a registered app, its compose hash and device; each refusal with the contract\'s reason', async () => {
  const app = await deployApp(eth);
  const ok = await appAuth('ethereum', bootInfo(app));
  assert.deepEqual(ok, { status: 200, body: { isAllowed: true, gatewayAppId: 'gw-eth', reason: '' } });
  // 0x and upper case are accepted as auth-eth accepts them
  assert.equal((await appAuth('ethereum', bootInfo(`0x${app.toUpperCase()}`, { composeHash: `0x${composeHash}` }))).body.isAllowed, true);

  const refused = async (body: unknown, reason: string, kmsType = 'ethereum') => {
    const r = await appAuth(kmsType, body);
    assert.equal(r.status, 200);
    assert.deepEqual({ isAllowed: r.body.isAllowed, reason: r.body.reason }, { isAllowed: false, reason });
  };
  await refused(bootInfo('99'.repeat(20)), 'App not registered');
  await refused(bootInfo(app, { osImageHash: devImage }), 'OS image is not allowed');
  await refused(bootInfo(app, { composeHash: '3d'.repeat(32) }), 'Compose hash not allowed');
  await refused(bootInfo(app, { deviceId: '7f'.repeat(32) }), 'Device not allowed');
  // registered (anyone may register an address) but no contract there
  const { wallet } = walletOf(eth, eth.other);
  const empty = '0x' + '42'.repeat(20);
  await mined(eth, await wallet.writeContract({ address: eth.config.kmsContract as Address, abi: kmsAuthAbi, functionName: 'registerApp', args: [empty as Address] }));
  await refused(bootInfo(empty.slice(2)), 'App not deployed or invalid address');
  // an app that requires an up-to-date TCB
  const strict = await deployApp(eth, { requireTcbUpToDate: true });
  assert.equal((await appAuth('ethereum', bootInfo(strict))).body.isAllowed, true);
  await refused(bootInfo(strict, { tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00837'] }), 'TCB status is not up to date');
  // the chain is the one the prefix names: the BASE KMS never registered the ETHEREUM app
  await refused(bootInfo(app), 'App not registered', 'base');
  // and a compose hash removed on-chain is refused from then on
  const owner = walletOf(eth, eth.user).wallet;
  await mined(eth, await owner.writeContract({ address: `0x${app}` as Address, abi: appAuthAbi, functionName: 'removeComposeHash', args: [`0x${composeHash}`] }));
  await refused(bootInfo(app), 'Compose hash not allowed');
});

test('bootAuth/app: dstack\'s auth-eth sample body (short 0x hex, left-padded) is a valid request', async () => {
  const sample = {
    tcbStatus: 'UpToDate', advisoryIds: [], mrAggregated: '0x1234', osImageHash: '0x5678', mrSystem: '0x9012',
    appId: '0x9012345678901234567890123456789012345678', composeHash: '0xabcd',
    instanceId: '0x3456789012345678901234567890123456789012', deviceId: '0xef12',
  };
  assert.deepEqual(await appAuth('ethereum', sample), { status: 200, body: { isAllowed: false, gatewayAppId: 'gw-eth', reason: 'App not registered' } });
});

test('bootAuth/kms: isKmsAllowed\'s reasons in order, then allowed once the KMS owner allows the MR and the device', async () => {
  const refused = async (body: unknown, reason: string) => {
    const r = await kmsAuth('base', body);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { isAllowed: false, gatewayAppId: '', reason });
  };
  const kmsBoot = bootInfo('00'.repeat(20), { composeHash: '11'.repeat(32), instanceId: '' });
  await refused({ ...kmsBoot, tcbStatus: 'OutOfDate' }, 'TCB status is not up to date');
  await refused({ ...kmsBoot, osImageHash: devImage }, 'OS image is not allowed');
  await refused(kmsBoot, 'Aggregated MR not allowed');
  const { wallet } = walletOf(base, base.kmsOwner);
  const kms = base.config.kmsContract as Address;
  await mined(base, await wallet.writeContract({ address: kms, abi: kmsAuthAbi, functionName: 'addKmsAggregatedMr', args: [`0x${mrAggregated}`] }));
  await refused(kmsBoot, 'KMS is not allowed to boot on this device');
  await mined(base, await wallet.writeContract({ address: kms, abi: kmsAuthAbi, functionName: 'addKmsDevice', args: [`0x${deviceId}`] }));
  assert.deepEqual(await kmsAuth('base', kmsBoot), { status: 200, body: { isAllowed: true, gatewayAppId: '', reason: '' } });
  // the other chain's KMS contract allows neither
  assert.equal((await kmsAuth('ethereum', kmsBoot)).body.reason, 'Aggregated MR not allowed');
});

test('a body that is not a BootInfo → 400 ERR-02-008 naming the field; nothing is asked of the chain', async () => {
  const app = '12'.repeat(20);
  const cases: [unknown, RegExp][] = [
    [bootInfo(app, { appId: '12'.repeat(21) }), /appId is at most 20 bytes/],
    [bootInfo(app, { composeHash: 'zz'.repeat(32) }), /composeHash must be hex/],
    [bootInfo(app, { composeHash: 'abc' }), /composeHash must be hex/],
    [bootInfo(app, { deviceId: '7e'.repeat(33) }), /deviceId is at most 32 bytes/],
    [bootInfo(app, { instanceId: 'ab'.repeat(32) }), /instanceId is at most 20 bytes/],
    [bootInfo(app, { osImageHash: 42 }), /osImageHash must be a hex string/],
    [bootInfo(app, { appId: '' }), /appId must not be empty/],
    [bootInfo(app, { tcbStatus: undefined }), /tcbStatus/],
    [bootInfo(app, { advisoryIds: 'none' }), /advisoryIds must be a list of strings/],
    [(() => { const b: Record<string, unknown> = bootInfo(app); delete b.composeHash; return b; })(), /composeHash/],
    [[1, 2], /BootInfo/],
  ];
  for (const path of ['ethereum/bootAuth/app', 'ethereum/bootAuth/kms']) {
    for (const [body, message] of cases) {
      const r = await post(path, body);
      assert.equal(r.status, 400, `${path} ${JSON.stringify(body).slice(0, 80)}`);
      assert.equal(r.body.detail.error_code, 'ERR-02-008');
      assert.match(r.body.detail.message, message);
    }
  }
  const notJson = await post('ethereum/bootAuth/app', '{"appId":', true);
  assert.equal(notJson.status, 400);
  assert.equal(notJson.body.detail.error_code, 'ERR-02-008');
  // a KMS type without a chain is a 404 whatever the body
  assert.equal((await appAuth('phala', bootInfo(app))).status, 404);
});

test('a chain that does not answer: bootAuth is 200 isAllowed:false "authorization backend unavailable"; the info a 503', async () => {
  await base.stop();
  const app = await deployApp(eth);
  for (const path of ['bootAuth/app', 'bootAuth/kms']) {
    assert.deepEqual(await post(`base/${path}`, bootInfo(app)), {
      status: 200, body: { isAllowed: false, gatewayAppId: '', reason: 'authorization backend unavailable' },
    });
  }
  const info = await fetch(`${env.server.url}/kms-auth/base/`);
  assert.equal(info.status, 503);
  assert.equal(info.headers.get('retry-after'), '5');
  assert.equal(((await info.json()) as any).detail.error_code, 'ERR-02-016');
  // the other chain still answers
  assert.equal((await appAuth('ethereum', bootInfo(app))).body.isAllowed, true);
});
