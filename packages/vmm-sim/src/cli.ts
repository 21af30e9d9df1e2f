/**
 * Command line of `opencvm-vmm-sim` (`npm run sim`): flags, each also readable from its `VMM_SIM_*`
 * environment variable (a flag wins).
 */
import type { VmmSimOptions } from './types.ts';

export class UsageError extends Error {}

interface Flag {
  name: string;
  env: string;
  arg: string;
  help: string;
  boolean?: boolean;
}

const FLAGS: Flag[] = [
  { name: 'port', env: 'VMM_SIM_PORT', arg: 'N', help: 'listen port (default 0: a free port)' },
  { name: 'host', env: 'VMM_SIM_HOST', arg: 'H', help: 'listen address (default 127.0.0.1)' },
  { name: 'name', env: 'VMM_SIM_NAME', arg: 'NAME', help: 'host name (default sim-1)' },
  { name: 'region', env: 'VMM_SIM_REGION', arg: 'R', help: 'region label, shown on GET /sim/host (dstack-vmm has no region)' },
  { name: 'vcpu', env: 'VMM_SIM_VCPU', arg: 'N', help: 'allocable vCPUs, GetMeta max_allocable_vcpu (default 32)' },
  { name: 'memory', env: 'VMM_SIM_MEMORY', arg: 'MB', help: 'allocable memory, GetMeta max_allocable_memory_in_mb (default 65536)' },
  { name: 'disk', env: 'VMM_SIM_DISK', arg: 'GB', help: 'disk, GetMeta max_disk_size_in_gb (default 2000)' },
  { name: 'slots', env: 'VMM_SIM_SLOTS', arg: 'N', help: 'CVM slots, GetMeta max_cvm_number (default 64)' },
  { name: 'data-dir', env: 'VMM_SIM_DATA_DIR', arg: 'D', help: 'persist VM records to D/vmm-sim.json (default: in memory)' },
  { name: 'kms-url', env: 'VMM_SIM_KMS_URL', arg: 'URL', help: "the host's KMS URL(s), comma-separated" },
  { name: 'kms-token', env: 'VMM_SIM_KMS_TOKEN', arg: 'T', help: 'bearer token the simulated guests present to the KMS' },
  { name: 'auth-token', env: 'VMM_SIM_AUTH_TOKEN', arg: 'T', help: 'require this token on every route (as dstack-vmm [auth])' },
  { name: 'boot-ms', env: 'VMM_SIM_BOOT_MS', arg: 'N', help: 'simulated boot time in ms (default 2000)' },
  { name: 'shutdown-ms', env: 'VMM_SIM_SHUTDOWN_MS', arg: 'N', help: 'graceful shutdown time in ms (default 500)' },
  { name: 'create-delay-ms', env: 'VMM_SIM_CREATE_DELAY_MS', arg: 'N', help: 'CreateVm answers this long after the VM exists (default 0)' },
  { name: 'gpus', env: 'VMM_SIM_GPUS', arg: 'LIST', help: 'GPUs, comma-separated SLOT@PRODUCT_ID[@DESCRIPTION] (ListGpus; default none)' },
  { name: 'device-id', env: 'VMM_SIM_DEVICE_ID', arg: 'HEX', help: '64 hex characters (default derived from the name)' },
  { name: 'verbose', env: 'VMM_SIM_VERBOSE', arg: '', help: 'log to stderr (env: VMM_SIM_VERBOSE=1)', boolean: true },
];

export function usage(): string {
  const lines = FLAGS.map((f) => {
    const left = `  --${f.name}${f.arg ? ` ${f.arg}` : ''}`;
    return `${left.padEnd(26)}${f.help} [${f.env}]`;
  });
  return [
    'usage: opencvm-vmm-sim [flags]',
    '',
    "A simulated dstack host speaking dstack-vmm's pRPC API. Prints its URL as the first line of stdout;",
    'SIGTERM/SIGINT stop it. Each flag can also be given by the environment variable in brackets; a flag wins.',
    '',
    ...lines,
    '  --help                  this text',
  ].join('\n');
}

export type ParsedArgs = { help: true } | { help: false; options: VmmSimOptions; verbose: boolean };

/** Parses argv (without node and the script) and the environment; throws UsageError naming what is wrong. */
export function parseSimArgs(argv: string[], env: NodeJS.ProcessEnv): ParsedArgs {
  const raw = new Map<string, { value: string; from: string }>();
  for (const f of FLAGS) {
    const v = env[f.env];
    if (v !== undefined && v !== '') raw.set(f.name, { value: v, from: f.env });
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { help: true };
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)} (see --help)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const flag = FLAGS.find((f) => f.name === name);
    if (!flag) throw new UsageError(`unknown flag --${name} (see --help)`);
    let value: string;
    if (flag.boolean) {
      value = eq < 0 ? '1' : arg.slice(eq + 1);
    } else if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value (${flag.arg})`);
      value = next;
      i++;
    }
    raw.set(name, { value, from: `--${name}` });
  }

  const str = (name: string): string | undefined => raw.get(name)?.value;
  const int = (name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    const r = raw.get(name);
    if (!r) return undefined;
    const n = Number(r.value);
    if (!/^\d+$/.test(r.value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
      throw new UsageError(`${r.from} must be ${range}, got ${JSON.stringify(r.value)}`);
    }
    return n;
  };

  const kms = raw.get('kms-url');
  let kmsUrls: string[] | undefined;
  if (kms) {
    kmsUrls = kms.value.split(',').map((s) => s.trim()).filter(Boolean);
    for (const u of kmsUrls) {
      let ok = false;
      try {
        ok = ['http:', 'https:'].includes(new URL(u).protocol);
      } catch {
        ok = false;
      }
      if (!ok) throw new UsageError(`${kms.from} must be http(s) URLs, comma-separated; got ${JSON.stringify(u)}`);
    }
  }
  const device = raw.get('device-id');
  if (device && !/^(0x)?[0-9a-fA-F]{64}$/.test(device.value)) {
    throw new UsageError(`${device.from} must be 64 hex characters, got ${JSON.stringify(device.value)}`);
  }
  const gpuFlag = raw.get('gpus');
  let gpus: VmmSimOptions['gpus'];
  if (gpuFlag) {
    gpus = gpuFlag.value.split(',').map((s) => s.trim()).filter(Boolean).map((g) => {
      const [slot, product_id, ...desc] = g.split('@');
      if (!slot || !product_id) throw new UsageError(`${gpuFlag.from} must be SLOT@PRODUCT_ID[@DESCRIPTION], comma-separated; got ${JSON.stringify(g)}`);
      return { slot, product_id, description: desc.join('@') };
    });
    if (new Set(gpus.map((g) => g.slot)).size !== gpus.length) throw new UsageError(`${gpuFlag.from} names a slot twice`);
  }
  const verbose = raw.get('verbose');
  if (verbose && !['0', '1', 'true', 'false'].includes(verbose.value)) {
    throw new UsageError(`${verbose.from} must be 1 or 0, got ${JSON.stringify(verbose.value)}`);
  }
  const name = raw.get('name');
  if (name && !/^[A-Za-z0-9._-]+$/.test(name.value)) {
    throw new UsageError(`${name.from} may hold only letters, digits, ".", "_" and "-", got ${JSON.stringify(name.value)}`);
  }

  const resources = {
    maxVcpu: int('vcpu', 1),
    maxMemoryMb: int('memory', 1),
    maxDiskGb: int('disk', 1),
    maxCvms: int('slots', 1),
  };
  const options: VmmSimOptions = {
    port: int('port', 0, 65535),
    host: str('host'),
    name: str('name'),
    region: str('region'),
    dataDir: str('data-dir'),
    kmsUrls,
    kmsToken: str('kms-token'),
    authToken: str('auth-token'),
    bootMs: int('boot-ms', 0),
    shutdownMs: int('shutdown-ms', 0),
    createDelayMs: int('create-delay-ms', 0),
    deviceId: device?.value,
    gpus,
    resources: Object.fromEntries(Object.entries(resources).filter(([, v]) => v !== undefined)),
  };
  for (const k of Object.keys(options) as (keyof VmmSimOptions)[]) if (options[k] === undefined) delete options[k];
  return { help: false, options, verbose: verbose !== undefined && (verbose.value === '1' || verbose.value === 'true') };
}
