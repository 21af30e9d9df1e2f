/**
 * Persistence of VM records to `<dataDir>/vmm-sim.json` (atomic: write a temp file, then rename).
 * What a real dstack-vmm keeps in each VM's work directory (manifest, shared files, `.instance_info`,
 * `vm-state.json`); guest RAM state is not persisted.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { VmConfiguration } from './types.ts';

export interface StoredVm {
  id: string;
  name: string;
  app_id: string;
  created_at_ms: number;
  /** As received (normalised), `stopped` is not meaningful here: `started` is. */
  configuration: VmConfiguration;
  /** vm-state.json `started`: the VM should be running. */
  started: boolean;
  /** `.instance_info`: null until the guest first reported it. */
  instance: { instance_id_seed: string; instance_id: string } | null;
}

interface StoreFile {
  version: 1;
  vms: StoredVm[];
}

export class Store {
  private readonly file: string | undefined;

  constructor(dataDir: string | undefined) {
    if (dataDir) {
      mkdirSync(dataDir, { recursive: true });
      this.file = join(dataDir, 'vmm-sim.json');
    }
  }

  load(): StoredVm[] {
    if (!this.file || !existsSync(this.file)) return [];
    const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as StoreFile;
    if (parsed.version !== 1 || !Array.isArray(parsed.vms)) {
      throw new Error(`vmm-sim: unsupported state file ${this.file}`);
    }
    return parsed.vms;
  }

  save(vms: StoredVm[]): void {
    if (!this.file) return;
    const body: StoreFile = { version: 1, vms };
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(body, null, 1));
    renameSync(tmp, this.file);
  }
}
