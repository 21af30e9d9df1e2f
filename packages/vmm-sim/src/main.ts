/**
 * The simulated dstack host as a program: `opencvm-vmm-sim [flags]` (bin/opencvm-vmm-sim.js), `npm run sim`,
 * or `node --import tsx packages/vmm-sim/src/main.ts`. Flags and their `VMM_SIM_*` variables: `--help`
 * (src/cli.ts). The first stdout line is its URL, the second describes the host; SIGTERM/SIGINT close it.
 * A bad flag or value: one line on stderr, exit 2.
 */
import { parseSimArgs, usage, UsageError, type ParsedArgs } from './cli.ts';
import { startVmmSim } from './index.ts';
import { resolveConfig } from './config.ts';

let parsed: ParsedArgs;
try {
  parsed = parseSimArgs(process.argv.slice(2), process.env);
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`opencvm-vmm-sim: ${err.message}\n`);
  process.exit(2);
}
if (parsed.help) {
  process.stdout.write(`${usage()}\n`);
  process.exit(0);
}

const { options, verbose } = parsed;
const config = resolveConfig(options);
let sim;
try {
  sim = await startVmmSim({ ...options, log: verbose ? (line) => console.error(`[vmm-sim] ${line}`) : undefined });
} catch (err) {
  process.stderr.write(`opencvm-vmm-sim: cannot start: ${(err as Error)?.message ?? err}\n`);
  process.exit(1);
}
const r = config.resources;
console.log(sim.url);
console.log(
  `vmm-sim ${config.name} region=${config.region || '-'} slots=${r.maxCvms} vcpu=${r.maxVcpu} memory=${r.maxMemoryMb}MB disk=${r.maxDiskGb}GB device=${config.deviceId}`,
);

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
