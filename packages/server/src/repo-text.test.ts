/**
 * What users read makes sense with only this repository and Phala's and dstack's public documents: no string in
 * the packages' source (error messages, suggestions, descriptions: every string and template literal of a
 * non-test file) and no README or ARCHITECTURE.md line refers to a document that is not public (a seed
 * number, a contract section, a facts sheet, a `shared/` path). Comments are not scanned.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceFiles, stringLiterals } from './testing/source-scan.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Names of documents outside this repo, kept in pieces so that this file does not itself cite them. */
const SEED = 'seed';
const CONTRACT = 'contract ' + '\u00a7';
const FACTS = 'dstack' + '-facts';
const SHARED = 'shared' + '/';
const NOT_PUBLIC = new RegExp(`\\b${SEED}s? 0|${CONTRACT}|${FACTS}|\\b${SHARED}`, 'i');

/** `name:line: text` for each string or template literal of this TypeScript source that names a document that is not public. */
function literalHits(name: string, text: string): string[] {
  return stringLiterals(name, text)
    .filter((l) => NOT_PUBLIC.test(l.text))
    .map((l) => `${name}:${l.line}: ${l.text}`);
}

const packages = readdirSync(join(root, 'packages')).filter((p) => existsSync(join(root, 'packages', p, 'src')));

test('the scan finds string and template literals, and skips comments', () => {
  const sample = [
    `// ${SEED} 004 in a comment`,
    `const a = '${SEED} 004 lists them';`,
    'const b = `the fields of ${a} in ' + CONTRACT + '2.4`;',
    `/* ${FACTS} 5 */`,
    "throw new Error(`see ${'x'} " + SHARED + "spec`);",
    "const ok = 'a seed its host keeps';",
  ].join('\n');
  assert.deepEqual(
    literalHits('sample.ts', sample).map((h) => h.split(': ')[0]),
    ['sample.ts:2', 'sample.ts:3', 'sample.ts:5'],
  );
});

test('no string in packages/*/src (tests aside) refers to a document that is not public', () => {
  const hits = packages.flatMap((p) => sourceFiles(join(root, 'packages', p, 'src'))).flatMap((f) => literalHits(relative(root, f), readFileSync(f, 'utf8')));
  assert.deepEqual(hits, [], `strings users may read that cite documents outside this repo:\n${hits.join('\n')}`);
});

test('README.md, ARCHITECTURE.md and the packages\' READMEs refer to no document that is not public', () => {
  const docs = ['README.md', 'ARCHITECTURE.md', ...packages.map((p) => join('packages', p, 'README.md'))].filter((f) => existsSync(join(root, f)));
  assert.ok(docs.includes('README.md'));
  const hits = docs.flatMap((f) =>
    readFileSync(join(root, f), 'utf8')
      .split('\n')
      .flatMap((line, i) => (NOT_PUBLIC.test(line) ? [`${f}:${i + 1}: ${line}`] : [])),
  );
  assert.deepEqual(hits, [], `documentation lines that cite documents outside this repo:\n${hits.join('\n')}`);
});
