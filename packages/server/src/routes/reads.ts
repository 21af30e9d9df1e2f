/**
 * The list and state reads under /api/v1 (client contract §2.3 #2–6, #10, #16, #22, #29, #36a/b, #41,
 * #43, #54, #56, #57; SSE per §2.6). Each parses its query with zod (→ 422 ERR-02-008), authenticates,
 * reads the store through `ReadService`, and shapes the answer for the `X-Phala-Version` asked for.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  appShape,
  composeFlags,
  cvmListItem,
  cvmStateShape,
  cvmStatusShape,
  kmsInfo,
  nodeRef,
  parseOrThrow,
  userConfigShape,
  versionTuple,
  workspaceShape,
  z,
  type CvmStateRecord,
  type ApiVersion,
  type CvmView,
} from '@opencvm/core';
import { principal, versionOf, type Services } from '../http/context.ts';
import type { Principal } from '../services/auth.ts';
import { ReadService } from '../services/reads.ts';

const int = (name: string, min: number, max?: number) => {
  let n = z.coerce.number({ error: `${name} must be a number` }).int(`${name} must be a whole number`).min(min, `${name} is at least ${min}`);
  if (max !== undefined) n = n.max(max, `${name} is at most ${max}`);
  return n;
};
/** an optional query string; an empty value means "not given" */
const optText = (name: string) =>
  z
    .string({ error: `${name} must be given once, as text` })
    .max(200, `${name} is at most 200 characters`)
    .optional()
    .transform((v) => v || undefined);
const boolQuery = (name: string) =>
  z.enum(['true', 'false', '1', '0'], { error: `${name} must be true or false` }).transform((v) => v === 'true' || v === '1').optional();

const page = { page: int('page', 1).default(1), page_size: int('page_size', 1, 100).default(50) };

const cvmPageQuery = z
  .object({
    ...page,
    node_id: int('node_id', 1).optional(),
    teepod_id: int('teepod_id', 1).optional(),
    user_id: z.string({ error: 'user_id must be given once' }).regex(/^\d{1,15}$/, 'user_id must be a numeric user id').optional(),
  })
  .refine((q) => q.node_id === undefined || q.teepod_id === undefined || q.node_id === q.teepod_id, {
    message: 'node_id and teepod_id are the same filter: give one of them',
    path: ['teepod_id'],
  });

const appListQuery = z.object({
  ...page,
  search: optText('search'),
  status: z
    .union([z.string(), z.array(z.string())], { error: 'status must be a CVM status, e.g. running (repeat it for several)' })
    .optional()
    .transform((v) => (v === undefined ? undefined : (Array.isArray(v) ? v : [v]).filter(Boolean))),
  listed: boolQuery('listed'),
  base_image: optText('base_image'),
  instance_type: optText('instance_type'),
  kms_slug: optText('kms_slug'),
  kms_type: optText('kms_type'),
  node: optText('node'),
  region: optText('region'),
});

const statusBatchBody = z.object(
  {
    vm_uuids: z
      .array(z.string({ error: 'each vm_uuid must be a string' }), { error: 'vm_uuids is required: a list of vm_uuid strings' })
      .max(1000, 'vm_uuids takes at most 1000 ids per request'),
  },
  { error: 'the body must be a JSON object {"vm_uuids": [...]}' },
);

const watchQuery = z.object({
  target: optText('target'),
  interval: int('interval', 5, 30).default(5),
  timeout: int('timeout', 10, 600).default(300),
});

const workspacesQuery = z.object({
  cursor: z.string({ error: 'cursor must be given once' }).regex(/^\d{1,15}$/, 'cursor must be a next_cursor value this API returned').optional(),
  limit: int('limit', 1, 100).default(50),
});

const nodesQuery = z.object({ page: int('page', 1).default(1), page_size: int('page_size', 1, 100).default(30) });

/** how often an SSE watch reads the CVM's state from the store */
const WATCH_POLL_MS = 250;
/** an SSE comment this often keeps idle proxies from closing the stream */
const WATCH_KEEPALIVE_MS = 15_000;

const pages = (total: number, pageSize: number) => Math.max(1, Math.ceil(total / pageSize));

export function readRoutes(app: FastifyInstance, s: Services): void {
  const reads = new ReadService(s.db);
  /** SSE watches in progress, ended when the server closes (a stream would otherwise hold close() up) */
  const watches = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...watches]) end();
  });

  /** CVM list items; the v2025 ones carry their signed `syslog_endpoint` as the v2025 detail does */
  const listItems = async (cvms: CvmView[], version: ApiVersion) =>
    version === '2025-10-28'
      ? Promise.all(cvms.map(async (c) => cvmListItem(c, version, { syslogEndpoint: await s.logUrls.syslogEndpoint(c.vm_uuid) })))
      : cvms.map((c) => cvmListItem(c, version));

  const cvmOf = async (req: FastifyRequest<{ Params: { id: string } }>) => {
    const p = await principal(s, req);
    return { p, cvm: await s.cvms.get(p, req.params.id) };
  };

  app.get('/cvms/paginated', async (req) => {
    const p = await principal(s, req);
    const q = parseOrThrow(cvmPageQuery, req.query);
    const filter = { nodeId: q.node_id ?? q.teepod_id, creatorId: q.user_id === undefined ? undefined : Number(q.user_id) };
    const { items, total } = await reads.cvmPage(p, filter, q.page, q.page_size);
    return { items: await listItems(items, versionOf(req)), total, page: q.page, page_size: q.page_size, pages: pages(total, q.page_size) };
  });

  app.get('/apps', async (req) => {
    const p = await principal(s, req);
    const q = parseOrThrow(appListQuery, req.query);
    const { page: n, page_size, ...filter } = q;
    const { apps, total } = await reads.apps(p, filter, n, page_size);
    const version = versionOf(req);
    return {
      dstack_apps: apps.map((a) => appShape(a.app, a.cvms, version)),
      page: n,
      page_size,
      total,
      total_pages: pages(total, page_size),
    };
  });

  app.get<{ Params: { app_id: string } }>('/apps/:app_id', async (req) => {
    const { app: a, cvms } = await reads.app(await principal(s, req), req.params.app_id);
    return appShape(a, cvms, versionOf(req));
  });

  app.get<{ Params: { app_id: string } }>('/apps/:app_id/cvms', async (req) => {
    const { cvms } = await reads.app(await principal(s, req), req.params.app_id);
    return listItems(cvms, versionOf(req));
  });

  app.post('/status/batch', async (req) => {
    const p = await principal(s, req);
    const body = parseOrThrow(statusBatchBody, req.body);
    const found = await reads.statusBatch(p, body.vm_uuids);
    const now = Date.now();
    const out: Record<string, ReturnType<typeof cvmStatusShape>> = {};
    for (const [sent, r] of found) out[sent] = cvmStatusShape(r, now);
    return out;
  });

  app.get<{ Params: { id: string } }>('/cvms/:id/state', async (req, reply) => {
    const sse = /text\/event-stream/i.test(String(req.headers.accept ?? ''));
    const p = await principal(s, req);
    const q = sse ? parseOrThrow(watchQuery, req.query) : null;
    const cvm = await s.cvms.get(p, req.params.id);
    if (!q) return cvmStateShape(stateRecordOf(cvm));
    watchState(req, reply, reads, p, cvm, q, watches);
  });

  app.get<{ Params: { id: string } }>('/cvms/:id/compose_file', async (req) => {
    const { cvm } = await cvmOf(req);
    return JSON.parse(cvm.app_compose);
  });

  app.get<{ Params: { id: string } }>('/cvms/:id/docker-compose.yml', async (req, reply) => {
    const { cvm } = await cvmOf(req);
    return reply.type('text/yaml; charset=utf-8').send(composeFlags(cvm.app_compose).docker_compose_file ?? '');
  });

  app.get<{ Params: { id: string } }>('/cvms/:id/pre-launch-script', async (req, reply) => {
    const { cvm } = await cvmOf(req);
    const script = composeFlags(cvm.app_compose).compose.pre_launch_script;
    return reply.type('text/plain; charset=utf-8').send(typeof script === 'string' ? script : '');
  });

  app.get<{ Params: { id: string } }>('/cvms/:id/user_config', async (req) => {
    const { cvm } = await cvmOf(req);
    const compose = composeFlags(cvm.app_compose).compose;
    return userConfigShape(await reads.userConfig(cvm.id), {
      hostname: cvm.name,
      gatewayDomain: typeof compose.default_gateway_domain === 'string' ? compose.default_gateway_domain : cvm.node.gateway_base_domain,
    });
  });

  app.get('/teepods/available', async (req) => {
    const p = await principal(s, req);
    const [nodes, kms] = await Promise.all([reads.nodeUsage(true), reads.kmsList()]);
    const defaultKms = kms.find((k) => k.kms_type === 'phala')?.id ?? null;
    // -1: the host did not report a limit for this resource, and placement does not cap it
    const left = (max: number, used: number) => (max ? Math.max(0, max - used) : -1);
    return {
      tier: p.workspaceTier,
      capacity: { max_instances: null, max_vcpu: null, max_memory: null, max_disk: null },
      nodes: nodes.map(({ node, images, used }) => ({
        teepod_id: node.id,
        name: node.name,
        listed: node.listed,
        resource_score: node.max_memory_mb ? Math.round((left(node.max_memory_mb, used.memory_mb) / node.max_memory_mb) * 100) / 100 : 1,
        remaining_vcpu: left(node.max_vcpu, used.vcpu),
        remaining_memory: left(node.max_memory_mb, used.memory_mb),
        remaining_cvm_slots: left(node.max_cvms, used.cvms),
        images: images.map((i) => ({
          name: i.name,
          is_dev: i.is_dev,
          version: versionTuple(i.version),
          os_image_hash: i.os_image_hash,
          requires_gpu: i.requires_gpu,
        })),
        support_onchain_kms: kms.some((k) => k.chain_id !== null),
        fmspc: node.fmspc || null,
        device_id: node.device_id,
        region_identifier: node.region,
        default_kms: defaultKms,
        kms_list: kms.map((k) => k.id),
        gateway_base_domain: node.gateway_base_domain,
      })),
      kms_list: kms.map(kmsInfo),
    };
  });

  app.get('/workspaces', async (req) => {
    const p = await principal(s, req);
    const q = parseOrThrow(workspacesQuery, req.query);
    // one more than asked tells whether another page follows
    const { items, total } = await reads.workspaces(p, q.cursor === undefined ? 0 : Number(q.cursor), q.limit + 1);
    const more = items.length > q.limit;
    const shown = items.slice(0, q.limit);
    return {
      data: shown.map((w) => workspaceShape(w, p.workspaceId)),
      pagination: { has_more: more, next_cursor: more ? String(shown[shown.length - 1].id) : null, total },
    };
  });

  app.get<{ Params: { slug: string } }>('/workspaces/:slug', async (req) => {
    const p = await principal(s, req);
    return workspaceShape(await reads.workspace(p, req.params.slug), p.workspaceId);
  });

  app.get<{ Params: { slug: string } }>('/workspaces/:slug/nodes', async (req) => {
    const p = await principal(s, req);
    const q = parseOrThrow(nodesQuery, req.query);
    await reads.workspace(p, req.params.slug);
    const all = (await reads.nodeUsage(false)).map((n) => nodeRef(n.node));
    const items = all.slice((q.page - 1) * q.page_size, q.page * q.page_size);
    return { items, total: all.length, page: q.page, page_size: q.page_size, pages: pages(all.length, q.page_size) };
  });

  app.get<{ Params: { slug: string } }>('/workspaces/:slug/quotas', async (req) => {
    const p = await principal(s, req);
    const w = await reads.workspace(p, req.params.slug);
    const nodes = await reads.nodeUsage(true);
    // a self-hosted workspace has no quota of its own: its limit is what the online hosts can hold,
    // and what remains is that minus every CVM placed on them; -1 = not limited (a host reports no cap)
    const metric = (max: (n: (typeof nodes)[number]) => number, used: (n: (typeof nodes)[number]) => number) => {
      if (nodes.some((n) => !max(n))) return { limit: -1, remaining: -1 };
      const limit = nodes.reduce((sum, n) => sum + max(n), 0);
      return { limit, remaining: Math.max(0, limit - nodes.reduce((sum, n) => sum + used(n), 0)) };
    };
    return {
      team_slug: w.slug,
      tier: w.tier,
      quotas: {
        vm_slots: metric((n) => n.node.max_cvms, (n) => n.used.cvms),
        vcpu: metric((n) => n.node.max_vcpu, (n) => n.used.vcpu),
        memory_mb: metric((n) => n.node.max_memory_mb, (n) => n.used.memory_mb),
        disk_gb: { limit: -1, remaining: -1 },
      },
      reserved_nodes: { limit: 0, remaining: 0 },
      reserved_gpu: { gpus: { limit: 0, remaining: 0 }, in_use: 0, misconfigured: 0 },
      as_of: new Date().toISOString(),
    };
  });
}

function stateRecordOf(c: CvmView): CvmStateRecord {
  return {
    name: c.name,
    status: c.status,
    vm_uuid: c.vm_uuid,
    instance_id: c.instance_id,
    boot_progress: c.boot_progress,
    boot_error: c.boot_error,
    shutdown_progress: c.shutdown_progress,
    started_at: c.started_at,
    exited_at: c.exited_at,
    op_kind: c.progress?.kind ?? null,
    op_started_at: c.progress?.started_at ?? null,
    op_correlation_id: c.progress?.correlation_id ?? null,
  };
}

/** statuses a CVM settles in when something failed: it will not reach another status by itself */
const FAILED = new Set(['exited', 'error']);
/** statuses with nothing in flight (what a watch without `target` waits for) */
const STABLE = new Set(['running', 'stopped', 'exited', 'error', 'deleted']);

/**
 * `watchCvmState` (§2.6): `event: state` at once and on every change, `event: complete` when the status is
 * `target` (without a target: once no operation is in flight and the status is stable), `event: timeout` when
 * `timeout` seconds pass. A CVM that is deleted, or that fails (exited/error with no operation left) before
 * reaching the target, gets `event: error` and the stream ends: the SDK then returns the last state.
 * The store is polled every 250 ms; `interval` is accepted (5..30) but changes are sent as they are seen.
 */
function watchState(
  req: FastifyRequest,
  reply: FastifyReply,
  reads: ReadService,
  p: Principal,
  cvm: CvmView,
  q: z.output<typeof watchQuery>,
  watches: Set<() => void>,
): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  const deadline = Date.now() + q.timeout * 1000;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let lastKey = '';
  let lastWrite = Date.now();
  const stop = () => {
    closed = true;
    clearTimeout(timer);
    watches.delete(end);
  };
  const end = () => {
    if (!closed) res.end();
    stop();
  };
  watches.add(end);
  res.on('close', stop);
  const send = (event: string, data: unknown) => {
    if (closed) return;
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    lastWrite = Date.now();
  };

  const tick = async () => {
    if (closed) return;
    let r: Awaited<ReturnType<ReadService['stateById']>>;
    try {
      r = await reads.stateById(p.workspaceId, cvm.id);
    } catch (e) {
      req.log.warn({ err: e }, 'state watch: reading the CVM failed');
      send('error', { error: 'reading the CVM state failed; retry' });
      return end();
    }
    if (closed) return;
    const now = Date.now();
    const status = r ? r.status : 'deleted';
    if (r) {
      const state = cvmStateShape(r, now);
      // uptime ticks every second: a change of anything else is a new state
      const key = JSON.stringify({ ...state, uptime: undefined });
      if (key !== lastKey) {
        lastKey = key;
        send('state', state);
      }
    }
    const settled = !r || !r.op_kind;
    if (q.target ? status === q.target : settled && STABLE.has(status)) {
      send('complete', { status });
      return end();
    }
    if (!r || r.deleted) {
      send('error', { error: `CVM ${cvm.name} was deleted`, status: 'deleted' });
      return end();
    }
    if (settled && FAILED.has(status)) {
      send('error', { error: `CVM ${cvm.name} is ${status}${r.boot_error ? ` (${r.boot_error})` : ''}: it will not become ${q.target} by itself`, status });
      return end();
    }
    if (now >= deadline) {
      send('timeout', { status, timeout: q.timeout });
      return end();
    }
    if (now - lastWrite >= WATCH_KEEPALIVE_MS) {
      res.write(': keep-alive\n\n');
      lastWrite = now;
    }
    timer = setTimeout(tick, Math.min(WATCH_POLL_MS, Math.max(0, deadline - now)));
  };
  void tick();
}
