/** Deploying through the official SDK in tests: provision, commit, and wait for a settled status. */
import { createClient } from '@phala/cloud';
import type { TestEnv } from './harness.ts';
import { waitFor } from './wait.ts';

export const sdkClient = (env: TestEnv) => createClient({ apiKey: env.apiKey, baseURL: env.apiUrl });

/** Wait until the CVM shows `status` with no operation in progress. */
export function settle(env: TestEnv, id: string, status: string, timeoutMs = 15_000) {
  return waitFor(async () => {
    const info = await sdkClient(env).getCvmInfo({ id });
    return info.status === status && !info.progress ? info : null;
  }, timeoutMs);
}

/** Provision and commit `name` with `compose` (PHALA KMS, no env), then wait until it runs. */
export async function deployRunning(env: TestEnv, name: string, compose: string) {
  const c = sdkClient(env);
  const p = await c.provisionCvm({ name, compose_file: { docker_compose_file: compose } });
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  await settle(env, vm.vm_uuid!, 'running');
  return vm;
}
