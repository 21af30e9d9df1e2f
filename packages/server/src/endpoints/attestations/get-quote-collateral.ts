import { getQuoteCollateral } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** The collateral a quote was last verified against, by checksum (404 otherwise). */
export default route(getQuoteCollateral, async ({ services, params }) => services.attestations.collateral(params.checksum));
