/**
 * The app compose (`app-compose.json`) as the VMM and the guest parse it (dstack's `dstack-types` `AppCompose`), and the
 * docker-compose services inside it.
 */
import { parse as parseYaml } from 'yaml';

export type KeyProvider = 'none' | 'kms' | 'local' | 'tpm';

export interface AppCompose {
  manifest_version: number;
  name: string;
  runner: 'docker-compose' | 'nerdctl-compose' | 'bash';
  docker_compose_file?: string;
  bash_script?: string;
  pre_launch_script?: string;
  hasPreLaunchScript: boolean;
  features: string[];
  kms_enabled: boolean;
  gateway_enabled: boolean;
  tproxy_enabled: boolean;
  local_key_provider_enabled: boolean;
  key_provider?: KeyProvider;
  public_logs: boolean;
  public_sysinfo: boolean;
  public_tcbinfo: boolean;
  allowed_envs: string[];
  no_instance_id: boolean;
  secure_time: boolean;
  storage_fs: string;
}

const RUNNERS = ['docker-compose', 'nerdctl-compose', 'bash'] as const;
const KEY_PROVIDERS: KeyProvider[] = ['none', 'kms', 'local', 'tpm'];

/** Parses and type-checks an app compose string. Throws an Error whose message says what is wrong. */
export function parseAppCompose(text: string): AppCompose {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`not valid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('expected a JSON object');
  const o = doc as Record<string, unknown>;

  const bool = (k: string, dflt: boolean): boolean => {
    const v = o[k];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') throw new Error(`invalid type for \`${k}\`: expected a boolean`);
    return v;
  };
  const optString = (k: string): string | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new Error(`invalid type for \`${k}\`: expected a string`);
    return v;
  };
  const stringList = (k: string): string[] => {
    const v = o[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      throw new Error(`invalid type for \`${k}\`: expected a list of strings`);
    }
    return v as string[];
  };

  const mv = o.manifest_version;
  let manifestVersion: number;
  if (mv === undefined) throw new Error('missing field `manifest_version`');
  if (typeof mv === 'number' && (mv === 1 || mv === 2)) manifestVersion = mv;
  else if (typeof mv === 'string' && /^(0|[1-9][0-9]*)$/.test(mv)) manifestVersion = Number(mv);
  else throw new Error('invalid `manifest_version`: expected 1, 2 or a canonical integer string');
  if (manifestVersion < 1 || manifestVersion > 3) {
    throw new Error(`unsupported manifest_version ${manifestVersion} (supported: 1 to 3)`);
  }

  if (o.name === undefined) throw new Error('missing field `name`');
  if (typeof o.name !== 'string') throw new Error('invalid type for `name`: expected a string');
  if (o.runner === undefined) throw new Error('missing field `runner`');
  if (!RUNNERS.includes(o.runner as (typeof RUNNERS)[number])) {
    throw new Error(`unknown runner ${JSON.stringify(o.runner)}, expected one of ${RUNNERS.join(', ')}`);
  }
  const keyProvider = optString('key_provider');
  if (keyProvider !== undefined && !KEY_PROVIDERS.includes(keyProvider as KeyProvider)) {
    throw new Error(`unknown key_provider ${JSON.stringify(keyProvider)}, expected one of ${KEY_PROVIDERS.join(', ')}`);
  }

  return {
    manifest_version: manifestVersion,
    name: o.name,
    runner: o.runner as AppCompose['runner'],
    docker_compose_file: optString('docker_compose_file'),
    bash_script: optString('bash_script'),
    pre_launch_script: optString('pre_launch_script'),
    hasPreLaunchScript: o.pre_launch_script !== undefined && o.pre_launch_script !== null,
    features: stringList('features'),
    kms_enabled: bool('kms_enabled', false),
    gateway_enabled: bool('gateway_enabled', false),
    tproxy_enabled: bool('tproxy_enabled', false),
    local_key_provider_enabled: bool('local_key_provider_enabled', false),
    key_provider: keyProvider as KeyProvider | undefined,
    public_logs: bool('public_logs', false),
    public_sysinfo: bool('public_sysinfo', false),
    public_tcbinfo: bool('public_tcbinfo', true),
    allowed_envs: stringList('allowed_envs'),
    no_instance_id: bool('no_instance_id', false),
    secure_time: bool('secure_time', true),
    storage_fs: optString('storage_fs') ?? 'zfs',
  };
}

/** `key_provider` wins; otherwise kms_enabled → kms, local_key_provider_enabled → local, else none. */
export function keyProviderOf(c: AppCompose): KeyProvider {
  if (c.key_provider) return c.key_provider;
  if (c.kms_enabled) return 'kms';
  if (c.local_key_provider_enabled) return 'local';
  return 'none';
}

export function gatewayEnabledOf(c: AppCompose): boolean {
  return c.gateway_enabled || c.tproxy_enabled || c.features.includes('tproxy-net');
}

export interface ComposeService {
  name: string;
  image: string;
  command: string;
}

/** Parsed docker-compose documents by text: the same compose is often deployed many times. */
const parsedServices = new Map<string, ComposeService[]>();
const PARSED_SERVICES_MAX = 256;

/** The services of a docker-compose YAML document, in file order. Throws on invalid YAML. */
export function composeServices(dockerCompose: string | undefined): ComposeService[] {
  if (!dockerCompose || !dockerCompose.trim()) return [];
  const known = parsedServices.get(dockerCompose);
  if (known) return known.map((s) => ({ ...s }));
  const services = parseServices(dockerCompose);
  if (parsedServices.size >= PARSED_SERVICES_MAX) parsedServices.delete(parsedServices.keys().next().value!);
  parsedServices.set(dockerCompose, services);
  return services.map((s) => ({ ...s }));
}

function parseServices(dockerCompose: string): ComposeService[] {
  const doc = parseYaml(dockerCompose) as unknown;
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('the document is not a mapping');
  const services = (doc as { services?: unknown }).services;
  if (services === undefined || services === null) return [];
  if (typeof services !== 'object' || Array.isArray(services)) throw new Error('`services` is not a mapping');
  return Object.entries(services as Record<string, unknown>).map(([name, svc]) => {
    const s = (svc ?? {}) as { image?: unknown; command?: unknown; build?: unknown };
    const image = typeof s.image === 'string' ? s.image : `${name}:local-build`;
    const command = Array.isArray(s.command)
      ? s.command.map(String).join(' ')
      : typeof s.command === 'string'
        ? s.command
        : '/docker-entrypoint.sh';
    return { name, image, command };
  });
}
