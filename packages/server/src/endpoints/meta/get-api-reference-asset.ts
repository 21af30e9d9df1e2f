import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { getApiReferenceAsset } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

const dist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const TYPES = { 'swagger-ui-bundle.js': 'text/javascript; charset=utf-8', 'swagger-ui.css': 'text/css; charset=utf-8' } as const;
const cache = new Map<string, Buffer>();

export default route(getApiReferenceAsset, async ({ params, reply }) => {
  let file = cache.get(params.asset);
  if (!file) cache.set(params.asset, (file = await readFile(join(dist, params.asset))));
  reply.type(TYPES[params.asset]).header('cache-control', 'public, max-age=86400');
  return file;
});
