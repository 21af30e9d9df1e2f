/**
 * Fuzzing every registered route with malformed requests, derived from the contract (method, path, path
 * parameters, query, body kind and schema) and checked against the routes the server registered:
 * - odd path ids (`%00`, `%25`, `%`, `%zz`, encoded surrogates and overlong UTF-8, ids over 100 and over 1000
 *   characters, numbers out of every integer range, ...);
 * - methods the path does not have (HEAD, OPTIONS, PUT, TRACE, ... and one Node does not know);
 * - JSON bodies with wrong types and odd values in every field (walked from the zod schemas), NULs and lone
 *   surrogates in every string field and in keys, random JSON (fast-check), malformed and truncated JSON,
 *   wrong content types (text/plain JSON, XML, multipart, form, none);
 * - queries with NULs and odd values in every key;
 * - over a raw socket: control and non-ASCII bytes in the path and headers, no Host, headers over 16 KB,
 *   malformed request lines, conflicting lengths, bodies shorter than their Content-Length.
 * Every answer must be below 500, and every 4xx the error envelope with an `ERR-` code (a HEAD answer has no
 * body: its headers are checked); the harness checks each answer against the contract as well, so `close()`
 * fails on any it did not expect. A CVM deployed before reads the same after (both API versions) and still
 * runs on the host, with no operation queued on it: requests that could reach a handler are sent to ids of
 * no CVM. Deterministic (fixed seed), bounded in count and time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { endpoints, errorEnvelopeSchema, findUnacceptableText, parseCvmRef, z, type Endpoint } from '@opencvm/core';
import { fastifyPath } from './http/endpoint.ts';
import { deployRunning } from './testing/deploy.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { rawRequest, type RawAnswer, type RawResult } from './testing/raw-http.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

const SEED = 0x0c_f0_22;
/** the most requests one run sends, and a time after which it sends no more (the count is reported) */
const MAX_REQUESTS = 8500;
const ADMIN_KEY = 'fuzz-admin-key-0123456789';
const TIME_BUDGET_MS = 100_000;
const CONCURRENCY = 6;

const composeYaml = 'services:\n  web:\n    image: nginx:latest\n';

let env: TestEnv;
let port: number;
const witness = { name: 'fuzz-witness', vm_uuid: '', app_id: '', instance_id: '', id: 0, simId: '' };

// ---------------------------------------------------------------------------------------------------------
// Deterministic choices

/** A small seeded PRNG (mulberry32): picks and shuffles that do not depend on the run. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    pick<T>(xs: readonly T[], n: number): T[] {
      const copy = [...xs];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [copy[i], copy[j]] = [copy[j], copy[i]];
      }
      return copy.slice(0, n);
    },
  };
}
const rng = prng(SEED);

// ---------------------------------------------------------------------------------------------------------
// Walking the contract's zod schemas

type Zod = z.ZodType;
interface Def {
  type: string;
  innerType?: Zod;
  in?: Zod;
  shape?: Record<string, Zod>;
  element?: Zod;
  options?: Zod[];
  valueType?: Zod;
  getter?: () => Zod;
  entries?: Record<string, unknown>;
  values?: unknown[];
}
const defOf = (s: Zod) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schema under optional/nullable/default/pipe wrappers. */
function core(s: Zod): Zod {
  for (let i = 0; i < 20; i++) {
    const d = defOf(s);
    if (d.innerType && ['optional', 'nullable', 'default', 'prefault', 'nonoptional', 'readonly', 'catch'].includes(d.type)) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else if (d.type === 'lazy' && d.getter) s = d.getter();
    else return s;
  }
  return s;
}

type Kind = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'other';
interface Field {
  path: (string | number)[];
  kind: Kind;
  /** a string may go there (so a NUL or a lone surrogate can be put there) */
  stringy: boolean;
}

function kindOf(s: Zod): Kind {
  const t = defOf(core(s)).type;
  if (t === 'string' || t === 'enum' || t === 'template_literal') return 'string';
  if (t === 'number' || t === 'int' || t === 'bigint') return 'number';
  if (t === 'boolean') return 'boolean';
  if (t === 'array' || t === 'tuple') return 'array';
  if (t === 'object' || t === 'record') return 'object';
  if (t === 'literal') return typeof defOf(core(s)).values?.[0] === 'string' ? 'string' : 'other';
  return 'other';
}

function isStringy(s: Zod): boolean {
  const d = defOf(core(s));
  if (d.type === 'union') return (d.options ?? []).some(isStringy);
  return kindOf(s) === 'string' || d.type === 'unknown' || d.type === 'any';
}

/** Every field of a request schema (objects, array elements, record values), to depth 4. */
function fieldsOf(s: Zod, path: (string | number)[] = [], out: Field[] = []): Field[] {
  const c = core(s);
  const d = defOf(c);
  if (path.length) out.push({ path, kind: kindOf(c), stringy: isStringy(c) });
  if (path.length >= 4) return out;
  if (d.type === 'object' && d.shape) for (const [k, v] of Object.entries(d.shape)) fieldsOf(v, [...path, k], out);
  else if (d.type === 'array' && d.element) fieldsOf(d.element, [...path, 0], out);
  else if (d.type === 'record' && d.valueType) fieldsOf(d.valueType, [...path, 'fuzz_key'], out);
  return out;
}

/** The keys of a query schema. */
function queryKeys(s: Zod): string[] {
  const d = defOf(core(s));
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}

function setPath(base: unknown, path: (string | number)[], value: unknown): unknown {
  const root = structuredClone(base ?? {}) as Record<string | number, unknown>;
  let at: Record<string | number, unknown> = root;
  path.forEach((k, i) => {
    if (i === path.length - 1) {
      at[k] = value;
      return;
    }
    const next = at[k];
    if (next === null || typeof next !== 'object') at[k] = typeof path[i + 1] === 'number' ? [] : {};
    at = at[k] as Record<string | number, unknown>;
  });
  return root;
}

// ---------------------------------------------------------------------------------------------------------
// Values

/** Odd values for fields of each kind: wrong JSON types, and numbers past every integer range. */
const ODD: Record<Kind, unknown[]> = {
  string: [0, -1, true, false, null, [], {}, ['x'], { a: 'b' }, 1e308, '', ' ', 'x'.repeat(70_000)],
  number: ['1', '', true, null, 1.5, -1, 0, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, -(2 ** 53), 1e308, -1e308, [], {}, '1e3', [1]],
  boolean: ['true', 'false', 1, 0, null, [], {}, 'yes'],
  array: ['x', 1, {}, null, true, [[]], [null], [{}], [1, 'x'], Array.from({ length: 1200 }, (_, i) => `k${i}`)],
  object: ['x', 1, [], null, true, [{}]],
  other: [null, {}, [], 1.5, 'x', true, -1, 2 ** 53],
};

/** Bodies that are not an object at all. */
const WHOLE_BODIES: unknown[] = [null, 0, -1, 'x', '', true, [], [{}], { __proto__: { polluted: 1 } }, JSON.parse('{"__proto__": {"polluted": 1}}'), { constructor: { prototype: { polluted: 1 } } }];

/** Strings the API refuses anywhere: NUL and unpaired surrogates. */
const BAD_TEXT = ['a\u0000b', '\u0000', '\ud800', 'x\udfff', '\udbff\u0041'];

/** Odd path segments, percent-encoded as they go on the wire (raw bytes go over the socket, below). */
const ODD_IDS = [
  '%00', '%25', '%', '%zz', '%2', '%%', '%2F', '%2f..%2f', '..', '.', '%2e%2e', '%C0%80', '%ED%A0%80', '%FF', '%FE%FF',
  '%E2%80%AE', '%F0%9F%98%80', '%20', '+', '%0A', '%0D%0A', "'", '%22', '%3Cscript%3E', "1'%20OR%20'1'='1", '0', '-1',
  '1.5', '1e9', '9'.repeat(20), '2147483648', '9223372036854775808', '999999999999999', '0x1', 'app_', `app_${'g'.repeat(40)}`,
  `app_${'0'.repeat(40)}`, `0x${'f'.repeat(40)}`, 'instance_', 'instance_%00', `instance_${'0'.repeat(40)}`, '%25%30%30',
  'a'.repeat(100), 'a'.repeat(101), 'a'.repeat(1000), 'a'.repeat(1001), 'a'.repeat(3000), '%41'.repeat(101), '%25'.repeat(40),
  'null', 'undefined', '__proto__', 'constructor', '%5Cu0000', '%u0000',
];
/** always sent, on every parameter of every route */
const CORE_IDS = ['%00', '%25', '%', '%zz', 'a'.repeat(101), 'a'.repeat(1001), '%ED%A0%80', '9'.repeat(20)];

/** Odd query values. */
const ODD_QUERY = [
  '%ED%A0%80', '%', '%zz', '-1', '0', '1e400', '9'.repeat(30), 'NaN', 'Infinity', '0x10', '%201', '1.5', 'true', '', 'a'.repeat(300),
  '%E2%80%AE', '%FF', '%C0%80', '[]', '{}',
];

// ---------------------------------------------------------------------------------------------------------
// Cases

interface Case {
  kind: string;
  /** the contract path (or a description) the case is about */
  route: string;
  method: string;
  /** the request target as it goes on the wire (latin1: raw bytes allowed) */
  target: string;
  headers?: Record<string, string | undefined>;
  body?: Buffer;
  /** the whole request, byte for byte (then method/target/headers/body are only labels) */
  raw?: Buffer;
  rawOpts?: { endAfterWrite?: boolean; timeoutMs?: number };
  /** the endpoint the request is meant for, if one */
  endpoint?: Endpoint;
  /** a write naming the witness, refused before its handler by construction: it must not succeed */
  mustRefuse?: boolean;
  /** the server may close the connection without an answer (e.g. a body that never arrives) */
  mayClose?: boolean;
  /** what this case must answer, beyond "below 500, and an envelope if 4xx" */
  expect?: (a: RawAnswer) => string | null;
}

const cases: Case[] = [];
const skipped = { touchesWitness: 0, wholeWorkspace: 0 };

/**
 * Writes without an id in the path whose handler is harmless whatever valid body it gets (it names nothing
 * that exists). The others (`PATCH /cvms/instance-ids`, `POST /cvms/refresh-instance-ids`) act on every CVM
 * a valid body selects, the witness included: they only get bodies refused before the handler.
 */
const HARMLESS_WRITES = new Set(['provisionCvm', 'commitCvmProvision', 'getCvmStatusBatch']);

const isGet = (m: string) => m === 'GET' || m === 'HEAD';

/** Could this path name the witness (any id form, after decoding and the server's trimming)? */
function namesWitness(target: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(target.split('?')[0]);
  } catch {
    return false; // the server refuses it (400) before any route
  }
  const low = decoded.toLowerCase();
  const ids = [witness.name, witness.vm_uuid, witness.vm_uuid.replace(/-/g, ''), witness.app_id, witness.instance_id].map((s) => s.toLowerCase());
  if (ids.some((id) => id && low.includes(id))) return true;
  return decoded.split('/').some((seg) => {
    const ref = parseCvmRef(seg);
    return ref.kind === 'id' && ref.value === witness.id;
  });
}

/**
 * Add a case. A request that is not refused before its handler by construction (`safe`) must not name the
 * witness unless it is a read.
 */
function add(c: Case, safe = false) {
  if (!safe && !isGet(c.method)) {
    if (namesWitness(c.target)) {
      skipped.touchesWitness++;
      return;
    }
    if (c.endpoint && !paramsOf(c.endpoint.path).length && c.endpoint.auth === 'apiKey' && !HARMLESS_WRITES.has(c.endpoint.id)) {
      skipped.wholeWorkspace++;
      return;
    }
  }
  if (!isGet(c.method) && namesWitness(c.target)) c.mustRefuse = true;
  cases.push(c);
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');

/** 422 ERR-02-008 (or the endpoint's `invalidRequestStatus`) whose first detail names `field`. */
const refusedNaming = (field: string, invalid = 422) => (a: RawAnswer) => {
  if (a.status !== invalid) return `expected ${invalid} naming ${field}, got ${a.status}`;
  const e = JSON.parse(a.body) as { detail: { error_code: string; details: { field?: string }[] } };
  if (e.detail.error_code !== 'ERR-02-008') return `expected ERR-02-008, got ${e.detail.error_code}`;
  if (e.detail.details[0]?.field !== field) return `expected the field ${JSON.stringify(field)}, got ${JSON.stringify(e.detail.details[0]?.field)}`;
  return null;
};
const status = (...statuses: number[]) => (a: RawAnswer) => (statuses.includes(a.status) ? null : `expected ${statuses.join(' or ')}, got ${a.status}`);

/** What the JSON parser makes of a body text (an empty body is none), or that it refuses it. */
function serverBody(text: string): { ok: true; value: unknown } | { ok: false } {
  const t = text.trim();
  if (!t) return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(t) };
  } catch {
    return { ok: false };
  }
}

/** Would the route refuse this JSON body before its handler (text rule, or the body schema)? */
function refusedBeforeHandler(e: Endpoint, value: unknown): boolean {
  if (findUnacceptableText(value)) return true;
  if (!e.body) return false; // a route without a body ignores it: the handler runs
  if (e.body.text) return typeof value !== 'string' && value !== undefined && value !== null;
  return !e.body.json!.safeParse(value).success;
}

/** Valid bodies that name nothing that exists: what mutations start from. */
function baseBodies(real: Record<string, string>): Record<string, unknown> {
  const hash = '0'.repeat(64);
  return {
    provisionCvm: { name: 'fuzz-base', compose_file: { docker_compose_file: composeYaml } },
    commitCvmProvision: { app_id: '0'.repeat(40), compose_hash: hash },
    getCvmStatusBatch: { vm_uuids: [GHOST.id] },
    patchCvm: { listed: true },
    commitCvmUpdate: { token: 'fuzz-token' },
    upgradeCvmCompose: { compose_manifest: { docker_compose_file: composeYaml } },
    commitCvmComposeFile: { compose_hash: hash },
    commitCvmComposeFileUpdate: { compose_hash: hash },
    provisionCvmComposeFileUpdate: { docker_compose_file: composeYaml },
    updateCvmEnvs: { encrypted_env: '00' },
    updateCvmResources: { vcpu: 2 },
    updateCvmVisibility: { listed: true },
    updateOsImage: { os_image_name: real.image || 'dstack-0.5.8' },
    refreshCvmInstanceIds: { cvm_ids: [GHOST.id] },
    refreshCvmInstanceIdsNew: { ids: [GHOST.id] },
    restartCvm: { force: false },
    callGuestKms: {},
    // dstack's BootInfo (the server has no chain here: the handler answers 404)
    checkAppBootAuth: { appId: '0'.repeat(40), composeHash: hash, instanceId: '', deviceId: hash, mrAggregated: hash, osImageHash: hash, tcbStatus: 'UpToDate', advisoryIds: [] },
    checkKmsBootAuth: { appId: '0'.repeat(40), composeHash: hash, instanceId: '', deviceId: hash, mrAggregated: hash, osImageHash: hash, tcbStatus: 'UpToDate', advisoryIds: [] },
  };
}

/** Ids of nothing. */
const GHOST: Record<string, string> = {
  id: 'fuzz-ghost-cvm',
  app_id: '0'.repeat(40),
  revision_id: 'rev_0000000000000000',
  correlation_id: '00000000-0000-4000-8000-000000000000',
  slug: 'no-such-workspace',
  family: 'nofamily',
  kms: 'no-such-kms',
  name: 'no-such-container',
  method: 'NoSuchMethod',
  asset: 'nothing.js',
};

const fill = (path: string, values: Record<string, string>) => path.replace(/\{([^}]+)\}/g, (_, p: string) => values[p] ?? GHOST[p] ?? 'x');
const paramsOf = (path: string) => [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);

/** The registered routes, each with its endpoint (HEAD routes with their GET endpoint). */
function routesWithEndpoints(): { method: string; endpoint: Endpoint }[] {
  return env.server.registeredRoutes.map(({ method, url }) => {
    const endpoint = endpoints.find((e) => fastifyPath(e.path) === url && (e.method === method || (method === 'HEAD' && e.method === 'GET')));
    assert.ok(endpoint, `${method} ${url} is registered but no endpoint of the contract declares it`);
    return { method, endpoint };
  });
}

function generate(real: Record<string, string>) {
  const routes = routesWithEndpoints();
  const bases = baseBodies(real);
  const paths = new Map<string, Set<string>>();
  for (const { method, endpoint: e } of routes) paths.set(e.path, (paths.get(e.path) ?? new Set()).add(method));

  for (const { method, endpoint: e } of routes) {
    const route = `${method} ${e.path}`;
    const values = isGet(method) ? real : GHOST;
    const params = paramsOf(e.path);

    // odd path ids, one parameter at a time
    for (const p of params) {
      const ids = [...new Set([...CORE_IDS, ...rng.pick(ODD_IDS, method === 'HEAD' ? 3 : 7)])];
      for (const id of ids) {
        const target = fill(e.path, { ...values, [p]: id });
        const expect = id === '%00' && e.auth === 'apiKey' ? refusedNaming(p) : id === '%zz' || id === '%' ? status(400) : undefined;
        add({ kind: 'path id', route, method, endpoint: e, target, expect: method === 'HEAD' ? undefined : expect });
      }
    }

    // no API key
    if (e.auth === 'apiKey') add({ kind: 'no key', route, method, target: fill(e.path, values), headers: { 'X-API-Key': undefined }, expect: status(401) }, true);
    // an API key with bytes outside ASCII and a wrong one
    if (e.auth === 'apiKey') add({ kind: 'odd key', route, method, target: fill(e.path, values), headers: { 'X-API-Key': 'phak_\u00e9\u00ff' }, expect: status(401) }, true);
    if (e.auth === 'adminKey') add({ kind: 'no admin key', route, method, target: fill(e.path, values), headers: { 'X-Admin-Key': undefined }, expect: status(401) }, true);

    // no Host (HTTP/1.1 requires one), for every route
    add({ kind: 'no Host', route, method, target: fill(e.path, values), headers: { Host: undefined }, expect: status(400) }, true);

    // odd API versions
    if (isGet(method)) add({ kind: 'odd version', route, method, target: fill(e.path, real), headers: { 'X-Phala-Version': rng.pick(['1999-01-01', '', '2025-10-28\u00e9', 'x'.repeat(500)], 1)[0] } });

    // queries: NULs in every key, odd values, arrays, keys of no meaning
    if (method === 'GET' || method === 'HEAD') {
      const keys = e.query ? queryKeys(e.query) : [];
      for (const k of keys) {
        if (method === 'GET') add({ kind: 'query NUL', route, method, target: `${fill(e.path, real)}?${k}=a%00b`, expect: e.auth === 'apiKey' ? refusedNaming(k) : undefined });
        for (const v of rng.pick(ODD_QUERY, method === 'HEAD' ? 1 : 3)) add({ kind: 'query value', route, method, target: `${fill(e.path, real)}?${k}=${v}` });
        if (method === 'GET') add({ kind: 'query repeated', route, method, target: `${fill(e.path, real)}?${k}=1&${k}=2&${k}[]=3` });
      }
      if (method === 'GET') {
        add({ kind: 'query key', route, method, target: `${fill(e.path, real)}?fuzz%00=1`, expect: e.auth === 'apiKey' ? status(422) : undefined });
        add({ kind: 'query key', route, method, target: `${fill(e.path, real)}?__proto__[x]=1&constructor[prototype][y]=2&a[b][c][d]=e` });
        add({ kind: 'query key', route, method, target: `${fill(e.path, real)}?${'&'.repeat(2000)}=${'%00'.repeat(3)}` });
      }
    }

    // bodies
    if (!isGet(method) && method !== 'DELETE') bodyCases(e, route, method, bases);
  }

  // methods the path does not have
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'SEARCH', 'PROPFIND'];
  for (const [path, has] of paths) {
    for (const m of methods.filter((x) => !has.has(x))) {
      const target = fill(path, m === 'OPTIONS' || m === 'TRACE' || isGet(m) ? real : GHOST);
      add({
        kind: 'wrong method', route: `${m} ${path}`, method: m, target,
        expect: (a) => {
          if (a.status !== 405) return null;
          const allow = (a.headers.allow ?? '').split(/,\s*/).filter(Boolean);
          return !allow.length ? 'a 405 without Allow' : allow.includes(m) ? `a 405 whose Allow lists ${m}` : null;
        },
      });
    }
    add({ kind: 'unknown method', route: `FUZZ ${path}`, method: 'FUZZ', target: fill(path, GHOST), expect: status(400, 405) }, true);
  }

  rawCases(real);
}

function bodyCases(e: Endpoint, route: string, method: string, bases: Record<string, unknown>) {
  const base = e.body?.json && bases[e.id] !== undefined && e.body.json.safeParse(bases[e.id]).success ? bases[e.id] : e.body?.json?.safeParse({}).success ? {} : undefined;
  const at = (safe: boolean) => fill(e.path, safe ? { ...GHOST, id: witness.vm_uuid } : GHOST);
  /** a JSON body: to the witness if the route refuses it before the handler, else to ids of nothing */
  const sendJson = (kind: string, value: unknown, expect?: Case['expect']) => {
    const safe = refusedBeforeHandler(e, value);
    add({ kind, route, method, endpoint: e, target: at(safe), headers: { 'Content-Type': 'application/json' }, body: json(value), expect }, safe);
  };

  // what a body the route refuses before its handler gets: 422, or the endpoint's own status for it
  const invalid = e.invalidRequestStatus ?? 422;
  if (e.body?.json) {
    const fields = fieldsOf(e.body.json);
    for (const f of fields) {
      const field = f.path.join('.');
      // wrong types and odd values, each alone in an otherwise valid body
      for (const v of [ODD[f.kind][0], ...rng.pick(ODD[f.kind].slice(1), 2)]) {
        const body = setPath(base, f.path, v);
        const refused = !e.body.json.safeParse(body).success;
        sendJson('field type', body, refused ? status(invalid) : undefined);
      }
      // NULs and lone surrogates in every place a string goes
      if (f.stringy) for (const s of [BAD_TEXT[0], ...rng.pick(BAD_TEXT.slice(1), 1)]) sendJson('field text', setPath(base, f.path, s), refusedNaming(field, invalid));
    }
    // keys with NULs, values nested too deep
    sendJson('key text', { ...(base as object), ['k\u0000']: 1 }, status(invalid));
    sendJson('key text', { ...(base as object), ['\ud800']: 'x' }, status(invalid));
    let deep: unknown = 'x';
    for (let i = 0; i < 200; i++) deep = [deep];
    sendJson('deep', setPath(base, ['fuzz_deep'], deep), status(invalid));
    // bodies that are not an object
    for (const v of WHOLE_BODIES) sendJson('whole body', v);
    // random JSON: whole bodies, and the schema's keys with random values
    const keys = fields.filter((f) => f.path.length === 1).map((f) => String(f.path[0]));
    const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' });
    for (const v of fc.sample(anyJson, { seed: SEED + cases.length, numRuns: 4 })) sendJson('random JSON', v);
    if (keys.length) {
      const record = fc.dictionary(fc.constantFrom(...keys), anyJson, { maxKeys: 4 });
      for (const v of fc.sample(record, { seed: SEED + cases.length, numRuns: 6 })) sendJson('random fields', v);
    }
  }

  // malformed and odd JSON text (the witness only where the text cannot parse)
  const texts = ['{', '{"a":', '[1,2', '{"a":1}}', 'nul', "{'a':1}", '{"a":1,}', '{"a":"\\x"}', '\u0000', '{"a":1e999}', '\ufeff{}', '['.repeat(5000) + ']'.repeat(5000), '{"a":"\\ud800"}', '{"a":"\\u0000"}', '"just a string"'];
  for (const t of rng.pick(texts, 8)) {
    const parsed = serverBody(t);
    const safe = !parsed.ok || refusedBeforeHandler(e, parsed.value);
    add({ kind: 'malformed JSON', route, method, endpoint: e, target: at(safe), headers: { 'Content-Type': 'application/json' }, body: Buffer.from(t, 'utf8'), expect: parsed.ok ? undefined : status(400) }, safe);
  }

  // wrong content types: refused (415) before the route, or read as text
  const sample = JSON.stringify(base ?? {});
  const types: [string, string, boolean][] = [
    ['application/xml', '<cvm><name>x</name></cvm>', true],
    // read as a form by the endpoints whose contract takes one (`multipart`), refused by the others
    ['multipart/form-data; boundary=fuzz', `--fuzz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--fuzz--\r\n`, !e.body?.multipart],
    ['application/x-www-form-urlencoded', 'a=1&b=%00', true],
    ['application/octet-stream', '\u0000\u0001\u0002', true],
    ['application/jsonx', sample, true],
    ['text/plain', sample, false],
    ['text/plain', 'not json at all', false],
    ['text/yaml', 'a: [1, 2', false],
    ['application/json; charset=utf-16', sample, false],
    ['APPLICATION/JSON', sample, false],
    ['', sample, false],
  ];
  for (const [type, text, refused] of rng.pick(types, 7)) {
    add({ kind: 'content type', route, method, endpoint: e, target: at(false), headers: { 'Content-Type': type || undefined }, body: Buffer.from(text, 'utf8'), expect: refused ? status(415) : undefined });
  }

  // a text body with NULs and lone surrogates (the text endpoints), and JSON sent to them
  if (e.body?.text) {
    // (a lone surrogate cannot travel in UTF-8 text: it arrives as U+FFFD, which is text like any other)
    for (const s of BAD_TEXT) {
      const nul = s.includes('\u0000');
      const body = Buffer.from(`${composeYaml}# ${s}\n`, 'utf8');
      add({ kind: 'text body', route, method, endpoint: e, target: at(nul), headers: { 'Content-Type': e.body.text.types[0] }, body, expect: nul ? refusedNaming('body') : undefined }, nul);
    }
    add({ kind: 'text body', route, method, endpoint: e, target: at(true), headers: { 'Content-Type': 'application/json' }, body: json({ docker_compose_file: composeYaml }), expect: status(400) }, true);
  }
}

/** The request, serialized. */
function serialize(c: Case): Buffer {
  if (c.raw) return c.raw;
  const headers: Record<string, string | undefined> = {
    Host: `127.0.0.1:${port}`,
    'X-API-Key': env.apiKey,
    // the host admin API's key, so its bodies are checked too ({host} is filled with a name no host has)
    'X-Admin-Key': ADMIN_KEY,
    Connection: 'close',
    ...(c.body ? { 'Content-Length': String(c.body.length) } : {}),
    ...c.headers,
  };
  const head = `${c.method} ${c.target} HTTP/1.1\r\n${Object.entries(headers)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), c.body ?? Buffer.alloc(0)]);
}

function rawCases(real: Record<string, string>) {
  const key = env.apiKey;
  const get = (target: string, extra = '', method = 'GET') => `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${key}\r\nConnection: close\r\n${extra}\r\n`;
  const raw = (kind: string, request: string | Buffer, more: Partial<Case> = {}) =>
    add({ kind, route: '(raw)', method: 'RAW', target: '', raw: typeof request === 'string' ? Buffer.from(request, 'latin1') : request, ...more }, true);
  const cvm = `/api/v1/cvms/${real.id}`;

  // every control byte and a range of non-ASCII bytes, in the path, the query and a header value
  const bytes = [...Array.from({ length: 32 }, (_, i) => i), 0x7f, 0x80, 0x85, 0xa0, 0xc0, 0xc3, 0xe9, 0xed, 0xf0, 0xfe, 0xff];
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    raw('raw path byte', get(`/api/v1/cvms/a${ch}b`), { expect: b === 0x09 || b === 0x0c ? undefined : status(400) });
  }
  for (const b of rng.pick(bytes, 12)) raw('raw query byte', get(`/api/v1/apps?search=a${String.fromCharCode(b)}b`));
  for (const b of rng.pick(bytes, 12)) raw('raw header byte', get(cvm, `X-Phala-Version: 2025${String.fromCharCode(b)}\r\n`));
  raw('raw header name', get(cvm, 'X-Bad Name: 1\r\n'), { expect: status(400) });
  raw('raw header name', get(cvm, 'X-\u00e9: 1\r\n'), { expect: status(400) });

  // headers over 16 KB
  raw('oversized headers', get(cvm, `X-Padding: ${'a'.repeat(17 * 1024)}\r\n`), { expect: status(431) });
  raw('oversized headers', get(cvm, Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'b'.repeat(50)}\r\n`).join('')), { expect: status(431) });
  raw('oversized headers', get(`/api/v1/cvms/${'p'.repeat(20_000)}`), { expect: status(431) });
  raw('oversized headers', get(cvm, `X-API-Key: ${'k'.repeat(16 * 1024)}\r\n`), { expect: status(431) });

  // malformed request lines and framing
  for (const line of [
    'GET\r\n\r\n', 'GET / HTTP/9.9\r\nHost: x\r\n\r\n', `GET ${cvm} HTTP/1.1 extra\r\nHost: x\r\n\r\n`, 'GARBAGE\r\n\r\n', '\r\n\r\n\r\n',
    `GET http://evil.example${cvm} HTTP/1.1\r\nHost: evil.example\r\nX-API-Key: ${key}\r\n\r\n`, 'GET * HTTP/1.1\r\nHost: x\r\n\r\n',
    'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n', `GET //api/v1//auth/me HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key}\r\n\r\n`,
    `GET /api/v1/../api/v1/auth/me HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key}\r\n\r\n`, `GET /api/v1/cvms/%2e%2e/%2e%2e/healthz HTTP/1.1\r\nHost: x\r\n\r\n`,
    `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: x\r\n\r\n`, 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
    'GET /healthz HTTP/1.1\r\nHost:\r\n\r\n', 'GET /healthz HTTP/1.1\r\n Host: x\r\n\r\n', 'GET /healthz HTTP/1.1\nHost: x\n\n',
    `GET ${cvm} HTTP/1.0\r\nX-API-Key: ${key}\r\n\r\n`, `GET /api/v1/cvms/paginated HTTP/1.0\r\nX-API-Key: ${key}\r\n\r\n`,
  ]) {
    raw('request line', line, { rawOpts: { timeoutMs: 2000 }, mayClose: true });
  }

  // bodies and their lengths: shorter than said, longer, both framings, broken chunks
  const body = JSON.stringify({ name: 'fuzz-trunc', compose_file: { docker_compose_file: composeYaml } });
  const post = (path: string, extra: string, payload: string) =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${key}\r\nContent-Type: application/json\r\nConnection: close\r\n${extra}\r\n${payload}`;
  const ghostPatch = `/api/v1/cvms/${GHOST.id}/restart`;
  for (const path of ['/api/v1/cvms/provision', '/api/v1/status/batch', ghostPatch, '/api/v1/cvms']) {
    raw('truncated body', post(path, `Content-Length: ${body.length}\r\n`, body.slice(0, body.length >> 1)), { rawOpts: { endAfterWrite: true, timeoutMs: 2000 }, mayClose: true });
    raw('truncated body', post(path, `Content-Length: ${body.length}\r\n`, body.slice(0, 10)), { rawOpts: { timeoutMs: 400 }, mayClose: true });
    raw('short length', post(path, `Content-Length: ${body.length >> 1}\r\n`, body), { expect: status(400) });
    raw('both framings', post(path, `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`, body), { expect: status(400) });
    raw('two lengths', post(path, `Content-Length: 5\r\nContent-Length: ${body.length}\r\n`, body), { expect: status(400) });
    raw('bad chunk', post(path, 'Transfer-Encoding: chunked\r\n', `zz\r\n${body}\r\n0\r\n\r\n`), { mayClose: true });
    raw('chunked truncated', post(path, 'Transfer-Encoding: chunked\r\n', `${body.length.toString(16)}\r\n${body.slice(0, 20)}`), { rawOpts: { endAfterWrite: true, timeoutMs: 2000 }, mayClose: true });
    raw('negative length', post(path, 'Content-Length: -1\r\n', body), { expect: status(400) });
    raw('huge length', post(path, `Content-Length: ${'9'.repeat(30)}\r\n`, body), { expect: status(400, 413), mayClose: true });
    raw('over the body limit', post(path, `Content-Length: ${2 * 1024 * 1024}\r\n`, body), { rawOpts: { timeoutMs: 2000 }, expect: status(413), mayClose: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Sending and checking

interface Finding {
  kind: string;
  route: string;
  request: string;
  problem: string;
}

const guestEnvelope = errorEnvelopeSchema.extend({ error: z.string() });

function check(c: Case, r: RawResult): string | null {
  if ('closed' in r) return c.mayClose ? null : `no answer (${r.timedOut ? 'timed out' : 'the connection closed'})`;
  if (r.status >= 500) return `answered ${r.status}: ${r.body.slice(0, 300)}`;
  if (r.status < 200 || (r.status >= 300 && r.status < 400) || r.status >= 600) return `answered ${r.status}`;
  if (r.status >= 400) {
    const type = r.headers['content-type'] ?? '';
    if (!/^application\/json/i.test(type)) return `a ${r.status} answered ${type || 'no Content-Type'}, not the envelope`;
    if (c.method !== 'HEAD') {
      let v: unknown;
      try {
        v = JSON.parse(r.body);
      } catch {
        return `a ${r.status} whose body is not JSON: ${r.body.slice(0, 200)}`;
      }
      // the guest KMS's answers also carry dstack's pRPC {"error"} (those from the HTTP parser do not)
      const parsed = c.target.startsWith('/kms/prpc/') && guestEnvelope.safeParse(v).success ? { success: true } : errorEnvelopeSchema.safeParse(v);
      if (!parsed.success) return `a ${r.status} that is not the envelope: ${r.body.slice(0, 200)}`;
    }
  }
  if (c.mustRefuse && r.status < 400) return `a write to the witness that must be refused before its handler answered ${r.status}`;
  return c.method === 'HEAD' ? null : (c.expect?.(r) ?? null);
}

const describe = (c: Case) => {
  const text = c.raw ? c.raw.toString('latin1') : `${c.method} ${c.target}${c.body ? ` ${c.body.toString('utf8')}` : ''}`;
  return JSON.stringify(text.length > 240 ? `${text.slice(0, 240)}…(${text.length} bytes)` : text);
};

async function run(list: Case[]) {
  const findings: Finding[] = [];
  const statuses = new Map<string, number>();
  const started = performance.now();
  let next = 0;
  let sent = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= list.length || sent >= MAX_REQUESTS || performance.now() - started > TIME_BUDGET_MS) return;
      const c = list[i];
      sent++;
      let r: RawResult;
      try {
        r = await rawRequest(port, serialize(c), { timeoutMs: 10_000, ...c.rawOpts, head: c.method === 'HEAD' });
      } catch (e) {
        findings.push({ kind: c.kind, route: c.route, request: describe(c), problem: `unreadable answer: ${(e as Error).message}` });
        continue;
      }
      const answer = 'closed' in r ? `none (${r.timedOut ? 'timed out' : 'closed'}: ${c.kind})` : String(r.status);
      statuses.set(answer, (statuses.get(answer) ?? 0) + 1);
      const problem = check(c, r);
      if (problem) findings.push({ kind: c.kind, route: c.route, request: describe(c), problem });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { findings, sent, statuses, ms: performance.now() - started };
}

// ---------------------------------------------------------------------------------------------------------
// The witness

async function api(path: string, version?: string) {
  const res = await fetch(`${env.apiUrl}${path}`, {
    headers: { 'X-API-Key': env.apiKey, ...(version ? { 'X-Phala-Version': version } : {}) },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200, `GET ${path}`);
  return res.json() as Promise<Record<string, unknown>>;
}

/** A read of the witness without what changes by itself: timestamps, uptime, the signed log URL's token. */
function stable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stable);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !/(_at|uptime|timestamp)$/i.test(k))
        .map(([k, x]) => [k, stable(x)]),
    );
  }
  return typeof v === 'string' ? v.replace(/([?&])(exp|token)=[^&]*/g, '$1$2=…') : v;
}

async function witnessState() {
  const versions = {} as Record<string, unknown>;
  for (const version of ['2025-10-28', '2026-01-21']) versions[version] = stable(await api(`/cvms/${witness.vm_uuid}`, version));
  const ops = (await api(`/cvms/${witness.vm_uuid}/operations?limit=100`)) as { items: { correlation_id: string; kind: string; state: string; created_at: string }[] };
  return { versions, operations: ops.items.map((o) => `${o.kind} ${o.correlation_id} ${o.state} ${o.created_at}`) };
}

let before_: Awaited<ReturnType<typeof witnessState>>;
let real: Record<string, string>;

before(async () => {
  env = await startTestEnv({ config: { adminKey: ADMIN_KEY } });
  port = Number(new URL(env.server.url).port);
  const vm = await deployRunning(env, witness.name, composeYaml);
  const info = await api(`/cvms/${vm.vm_uuid}`, '2025-10-28');
  Object.assign(witness, { vm_uuid: vm.vm_uuid!, app_id: vm.app_id!, id: info.id as number, instance_id: String(info.instance_id ?? '') });
  witness.simId = env.sim.listVms().find((v) => cvmNameOf(v.name) === witness.name)!.id;
  const revisions = (await api(`/apps/${witness.app_id}/revisions`)) as { revisions: { revision_id: string }[] };
  const ops = (await api(`/cvms/${witness.vm_uuid}/operations`)) as { items: { correlation_id: string }[] };
  const workspaces = (await api('/workspaces')) as { data: { slug: string }[] };
  const kms = (await api('/kms')) as { items: { id: string }[] };
  const families = (await api('/instance-types')) as { result: { name: string }[] };
  const images = (await api(`/cvms/${witness.vm_uuid}/available-os-images`)) as unknown as { name?: string }[] | { items?: { name: string }[] };
  real = {
    id: witness.vm_uuid,
    app_id: witness.app_id,
    revision_id: revisions.revisions[0].revision_id,
    correlation_id: ops.items[0].correlation_id,
    slug: workspaces.data[0].slug,
    kms: kms.items[0].id,
    family: families.result[0].name,
    name: 'web',
    method: 'GetMeta',
    asset: 'swagger-ui.css',
    image: (Array.isArray(images) ? images[0]?.name : images.items?.[0]?.name) ?? '',
  };
  before_ = await witnessState();
});

after(() => env?.close());

test('fuzzing every registered route: no 5xx, every 4xx the error envelope', async (t) => {
  generate(real);
  assert.ok(cases.length <= MAX_REQUESTS, `${cases.length} cases: more than the ${MAX_REQUESTS} a run may send`);
  const { findings, sent, statuses, ms } = await run(cases);
  const kinds = new Map<string, number>();
  for (const c of cases.slice(0, sent)) kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
  t.diagnostic(`${sent} of ${cases.length} requests in ${Math.round(ms)} ms (seed ${SEED}); left out, as they could have changed the witness: ${skipped.touchesWitness} naming it, ${skipped.wholeWorkspace} acting on every CVM`);
  t.diagnostic(`requests by kind: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  t.diagnostic(`answers by status: ${[...statuses].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
  // one line per route, kind and problem: the same fault over many values is one finding
  const distinct = new Map<string, Finding & { times: number }>();
  for (const f of findings) {
    const key = `${f.kind}|${f.route}|${f.problem.replace(/\d+/g, 'N').slice(0, 60)}`;
    const seen = distinct.get(key);
    if (seen) seen.times++;
    else distinct.set(key, { ...f, times: 1 });
  }
  const lines = [...distinct.values()].slice(0, 40).map((f) => `[${f.kind}] ${f.route} (${f.times}×): ${f.problem}\n      e.g. ${f.request}`);
  if (sent < cases.length) t.diagnostic(`the time budget stopped the run after ${sent} of ${cases.length} requests (a slow machine): the rest were not sent`);
  assert.equal(findings.length, 0, `${findings.length} answers broke the rules (${distinct.size} distinct):\n${lines.join('\n')}`);
});

test('every fuzzed answer that reached a route matched the contract', () => {
  const shown = env.violations.slice(0, 30).map((v) => `  ${v.request.slice(0, 200)} → ${v.status}: ${v.problem}`);
  assert.equal(env.violations.length, 0, `${env.violations.length} answer(s) did not match the contract:\n${shown.join('\n')}`);
});

test('the CVM deployed before the fuzzing reads the same and still runs', async () => {
  const now = await witnessState();
  assert.deepEqual(now.versions['2025-10-28'], before_.versions['2025-10-28']);
  assert.deepEqual(now.versions['2026-01-21'], before_.versions['2026-01-21']);
  assert.deepEqual(now.operations, before_.operations, 'no operation was queued on it');
  const info = (await api(`/cvms/${witness.vm_uuid}`)) as { status: string; progress: unknown };
  assert.equal(info.status, 'running');
  assert.equal(info.progress, null);
  const vm = env.sim.getVm(witness.simId);
  assert.equal(vm?.status, 'running', 'the host still runs it');
  assert.equal(cvmNameOf(vm?.name ?? ''), witness.name);
});
