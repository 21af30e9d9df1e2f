/**
 * The bench's simulated dstack host as its own process, as a host is in production (another machine): its
 * work (booting the simulated guests, which ask the KMS for their keys) does not run on the server's event
 * loop. Options come as JSON in BENCH_SIM_OPTIONS (`VmmSimOptions`); the URL is printed as the first line of
 * stdout. Ends on SIGTERM or when its parent's stdin closes.
 */
import { startVmmSim, type VmmSimOptions } from '@opencvm/vmm-sim';

const sim = await startVmmSim(JSON.parse(process.env.BENCH_SIM_OPTIONS ?? '{}') as VmmSimOptions);
process.stdout.write(`${sim.url}\n`);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void sim.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop).on('error', stop).resume();
