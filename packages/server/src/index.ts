/** @opencvm/server: the control plane. `startServer` assembles it; `main.ts` runs it from the environment. */
export { startServer, type RunningServer, type StartOptions } from './app.ts';
export { loadConfig, type Config, type HostConfig } from './config.ts';
