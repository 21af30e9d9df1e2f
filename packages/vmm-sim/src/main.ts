/**
 * Standalone simulated dstack host:
 *   node --import tsx packages/vmm-sim/src/main.ts
 * Environment: VMM_SIM_PORT, VMM_SIM_HOST, VMM_SIM_NAME, VMM_SIM_DATA_DIR, VMM_SIM_KMS_URL (comma-separated
 * list allowed), VMM_SIM_KMS_TOKEN, VMM_SIM_AUTH_TOKEN, VMM_SIM_BOOT_MS, VMM_SIM_SHUTDOWN_MS,
 * VMM_SIM_CREATE_DELAY_MS (CreateVm answers this long after the VM exists), VMM_SIM_VERBOSE=1.
 */
import { startVmmSim } from './index.ts';

const env = process.env;
const num = (name: string): number | undefined => {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(v)}`);
  return n;
};

const sim = await startVmmSim({
  host: env.VMM_SIM_HOST || undefined,
  port: num('VMM_SIM_PORT'),
  name: env.VMM_SIM_NAME || undefined,
  dataDir: env.VMM_SIM_DATA_DIR || undefined,
  kmsUrls: env.VMM_SIM_KMS_URL ? env.VMM_SIM_KMS_URL.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
  kmsToken: env.VMM_SIM_KMS_TOKEN || undefined,
  authToken: env.VMM_SIM_AUTH_TOKEN || undefined,
  bootMs: num('VMM_SIM_BOOT_MS'),
  shutdownMs: num('VMM_SIM_SHUTDOWN_MS'),
  createDelayMs: num('VMM_SIM_CREATE_DELAY_MS'),
  log: env.VMM_SIM_VERBOSE === '1' ? (line) => console.error(`[vmm-sim] ${line}`) : undefined,
});
console.log(sim.url);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  sim.close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
