import { getAvailableOsImages } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getAvailableOsImages, async ({ services, cvm }) => services.updates.availableOsImages(cvm));
