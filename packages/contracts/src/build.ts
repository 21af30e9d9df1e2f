/** `npm run contracts:build`: compile the Solidity sources and write `src/artifacts.ts`. */
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ARTIFACTS_FILE, compileContracts, compilerVersion, renderArtifacts } from './compile.ts';

writeFileSync(ARTIFACTS_FILE, renderArtifacts(compileContracts()));
console.log(`wrote ${relative(process.cwd(), ARTIFACTS_FILE)} (solc ${compilerVersion()})`);
