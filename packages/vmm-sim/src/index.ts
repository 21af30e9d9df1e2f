/**
 * @opencvm/vmm-sim: a simulated dstack host speaking dstack-vmm's pRPC HTTP API (the subset a control
 * plane uses), with a simulated guest that boots, asks the KMS for its app keys, decrypts its env and
 * starts its containers. See README.md.
 */
import type { AddressInfo } from 'node:net';
import { resolveConfig } from './config.ts';
import { SimHost } from './host.ts';
import { createSimServer } from './server.ts';
import type { VmmSim, VmmSimOptions } from './types.ts';

export type { SimImage, SimVmView, SimContainerView, VmmSim, VmmSimOptions, VmConfiguration, VmInfo } from './types.ts';
export { defaultImages } from './config.ts';
export type { FaultSpec, FaultKind } from './faults.ts';

export async function startVmmSim(opts: VmmSimOptions = {}): Promise<VmmSim> {
  const config = resolveConfig(opts);
  const host = new SimHost(config);
  host.load();
  const server = createSimServer(host);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    host.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const hostPart = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${hostPart}:${port}`;
  config.log(`vmm-sim ${config.name} listening on ${url}`);

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        host.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
    listVms: () => host.sortedVms().map((vm) => vm.toView()),
    getVm: (id) => host.vms.get(id)?.toView(),
    injectFault: (f) => host.injectFault(f),
    addFault: (spec) => host.faults.add(spec).id,
    clearFaults: (id) => host.faults.clear(id === undefined ? undefined : (f) => f.id === id),
    restart: (mode) => host.restart(mode),
  };
}
