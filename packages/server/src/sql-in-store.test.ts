/**
 * All SQL lives in `store/` (one module per table family) and `db/` (connections, migrations): services keep
 * the rules and the transactions and call the store; endpoints and `http/` call services. This scans every
 * string and template literal of the server's non-test source for SQL outside those two folders. Test
 * support (`testing/`) reads the tables directly to check what was recorded, as the tests do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { sourceFiles, stringLiterals } from './testing/source-scan.ts';

const src = fileURLToPath(new URL('.', import.meta.url));

/** Where SQL belongs (folders of packages/server/src). */
const SQL_HOMES = ['store', 'db', 'testing'];

/** A statement's keywords as our SQL writes them (upper case); prose never spells them so. */
const SQL = /\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM)\b|\bpg_advisory/;

/** The name of the function, method or function-valued variable a node is in (innermost named one), if any. */
function enclosingName(node: ts.Node): string | undefined {
  for (let n: ts.Node | undefined = node.parent; n; n = n.parent) {
    if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) && n.name) return n.name.getText();
    if ((ts.isArrowFunction(n) || ts.isFunctionExpression(n)) && ts.isVariableDeclaration(n.parent)) return n.parent.name.getText();
  }
  return undefined;
}

interface Hit {
  file: string;
  fn: string | undefined;
  line: number;
  text: string;
}

/** Each string or template literal (part) of this TypeScript source that looks like SQL. */
function sqlHits(file: string, text: string): Hit[] {
  return stringLiterals(file, text)
    .filter((l) => SQL.test(l.text))
    .map((l) => ({ file, fn: enclosingName(l.node), line: l.line, text: l.text.trim().split('\n')[0] }));
}

test('the scan finds SQL in string and template literals, names the function, and skips comments and prose', () => {
  const sample = [
    '// SELECT * FROM cvms in a comment',
    "export async function one(q) { return q.query('SELECT id FROM nodes WHERE id = $1', [1]); }",
    'const two = (q, w) => q.query(`UPDATE cvms SET status = ${w} WHERE id = $1`);',
    'class S { async three(q) { await q.query(`DELETE FROM pending_updates WHERE id = $1`); } }',
    "const lock = 'SELECT pg_advisory_xact_lock(hashtext($1))';",
    "const prose = 'Select a node, then update the CVM: insert into the form what you deleted from it.';",
    "const host = 'UpdateVm';",
  ].join('\n');
  assert.deepEqual(
    sqlHits('sample.ts', sample).map((h) => `${h.fn ?? '-'}:${h.line}`),
    ['one:2', 'two:3', 'three:4', '-:5'],
  );
});

test('no SQL outside store/ and db/ (services, endpoints, http call the store)', () => {
  const hits = sourceFiles(src)
    .map((f) => relative(src, f).split(sep).join('/'))
    .filter((f) => !SQL_HOMES.includes(f.split('/')[0]))
    .flatMap((f) => sqlHits(f, readFileSync(join(src, f), 'utf8')));
  assert.deepEqual(
    hits.map((h) => `${h.file}:${h.line}${h.fn ? ` (${h.fn})` : ''}: ${h.text}`),
    [],
    'SQL outside store/ and db/: move it into the store module of its table (store/<table family>.ts), taking a Queryable',
  );
});
