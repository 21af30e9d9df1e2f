#!/usr/bin/env node
// Launcher of the simulated dstack host (`npx opencvm-vmm-sim --help`): runs src/main.ts through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
