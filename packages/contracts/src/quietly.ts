/**
 * Run one of the official SDK's on-chain helpers without its console output: `addComposeHash` prints the
 * transaction receipt's logs with `console.log`, which would fill a test run's or a script's output.
 */
export async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = () => {};
  try {
    return await fn();
  } finally {
    console.log = log;
  }
}
