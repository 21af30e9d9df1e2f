import { viewQuote } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** A quote verified here and its last verification, by checksum (404 otherwise). */
export default route(viewQuote, async ({ services, params }) => services.attestations.view(params.checksum));
