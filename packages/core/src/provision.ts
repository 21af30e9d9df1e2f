import type { AppComposeInput } from '@opencvm/contract';
import { parse as parseYaml } from 'yaml';
import { ApiError, ErrorCodes, badRequest } from '@opencvm/contract';
import { canonicalJson } from './compose-hash.ts';

/** Combined limit on `docker_compose_file` + `pre_launch_script` (Phala Cloud's limit: 200 KB together). */
export const MAX_COMPOSE_BYTES = 200 * 1024;

/** The `AppComposeV2` defaults of `POST /cvms/provision` (Phala Cloud's API schema), in the order dstack documents them. */
export interface AppCompose {
  [key: string]: unknown;
  manifest_version: number;
  name: string;
  runner: string;
  docker_compose_file: string;
  allowed_envs: string[];
}

/**
 * Check a docker-compose YAML: it must parse and define at least one service.
 * Throws `ERR-01-003` with the parser's own words (line and column) otherwise.
 */
export function checkDockerCompose(yamlText: string): void {
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (e) {
    throw badRequest(ErrorCodes.INVALID_COMPOSE_FILE, `docker_compose_file is not valid YAML: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw badRequest(ErrorCodes.INVALID_COMPOSE_FILE, 'docker_compose_file must be a YAML mapping with a "services" section');
  }
  const services = (doc as Record<string, unknown>).services;
  if (!services || typeof services !== 'object' || Array.isArray(services) || Object.keys(services).length === 0) {
    throw badRequest(
      ErrorCodes.INVALID_COMPOSE_FILE,
      'docker_compose_file has no services: add a "services:" section with at least one service',
    );
  }
}

/** Byte size check for compose + pre-launch script (Phala Cloud's `provisionCvm`: at most 200 KB together). */
export function checkComposeSize(compose: string, preLaunch?: string | null): void {
  const bytes = Buffer.byteLength(compose, 'utf8') + Buffer.byteLength(preLaunch ?? '', 'utf8');
  if (bytes > MAX_COMPOSE_BYTES) {
    throw new ApiError(413, ErrorCodes.INVALID_COMPOSE_FILE,
      `docker_compose_file and pre_launch_script together are ${bytes} bytes; the limit is ${MAX_COMPOSE_BYTES} bytes (200 KB)`);
  }
}

/**
 * Build the app-compose the host will receive from a provision's `compose_file`, filling in the
 * `AppComposeV2` defaults of `POST /cvms/provision`. Optional fields left unset stay absent (they are hashed as sent).
 */
export function buildAppCompose(input: AppComposeInput, cvmName: string, envKeys?: string[] | null): AppCompose {
  const gateway = input.gateway_enabled ?? input.tproxy_enabled ?? true;
  const compose: AppCompose = {
    manifest_version: input.manifest_version ?? 2,
    name: input.name || cvmName,
    runner: input.runner || 'docker-compose',
    docker_compose_file: input.docker_compose_file ?? '',
    allowed_envs: input.allowed_envs ?? envKeys ?? [],
    features: input.features ?? ['kms', 'tproxy-net'],
    gateway_enabled: gateway,
    tproxy_enabled: gateway,
    kms_enabled: input.kms_enabled ?? true,
    local_key_provider_enabled: input.local_key_provider_enabled ?? false,
    no_instance_id: input.no_instance_id ?? false,
    public_logs: input.public_logs ?? true,
    public_sysinfo: input.public_sysinfo ?? true,
    public_tcbinfo: input.public_tcbinfo ?? true,
    secure_time: input.secure_time ?? false,
    storage_fs: input.storage_fs ?? 'zfs',
  };
  for (const key of ['pre_launch_script', 'bash_script', 'init_script', 'default_gateway_domain', 'salt'] as const) {
    const value = input[key];
    if (value) compose[key] = value;
  }
  return compose;
}

/** The exact string sent to the host and hashed: compact JSON with sorted keys (the dstack JS SDK's `getComposeHash`). */
export function serializeAppCompose(compose: AppCompose): string {
  return canonicalJson(compose);
}
