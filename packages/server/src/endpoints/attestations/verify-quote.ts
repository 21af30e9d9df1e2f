import { verifyQuote } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Verify a quote against given or stored collateral at the caller's time; 200 whether it verified or not. */
export default route(verifyQuote, async ({ services, body }) => services.attestations.verify(body));
