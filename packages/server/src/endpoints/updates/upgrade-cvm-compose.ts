import { upgradeCvmCompose } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { accepted } from '../../http/updates.ts';

/** The deprecated `phala cvms upgrade`: the CLI prints `detail` when there is one. */
export default route(upgradeCvmCompose, async ({ services, principal, cvm, body }) => {
  const a = accepted(await services.updates.legacyUpgrade(principal, cvm, body));
  return { ...a, detail: `${a.message} (correlation_id ${a.correlation_id})` };
});
