/** What text the API accepts: NUL and unpaired surrogates are refused anywhere, with the path of the string. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findUnacceptableText, textProblem } from './text.ts';

test('ordinary text, including non-ASCII and paired surrogates, is accepted', () => {
  for (const s of ['', 'hello', 'naïve café', '日本語', '😀 emoji (a surrogate pair)', 'tab\tand\nnewline']) {
    assert.equal(textProblem(s), null, JSON.stringify(s));
  }
});

test('NUL and lone surrogates are refused', () => {
  assert.match(textProblem('a\u0000b')!, /NUL/);
  assert.match(textProblem('\ud800')!, /surrogate/);
  assert.match(textProblem('x\udc00y')!, /surrogate/);
  assert.match(textProblem('\ud83d')!, /surrogate/, 'a high surrogate without its pair');
});

test('the path of the first bad string is reported, keys included', () => {
  assert.deepEqual(findUnacceptableText({ compose_file: { docker_compose_file: 'ok', name: 'a\u0000' } }), {
    path: 'compose_file.name',
    problem: 'must not contain NUL (\\u0000) characters',
  });
  assert.equal(findUnacceptableText({ env_keys: ['A', 'B\ud800'] })!.path, 'env_keys.1');
  assert.match(findUnacceptableText({ ['k\u0000']: 1 })!.problem, /key/);
  assert.equal(findUnacceptableText({ a: [1, true, null, { b: 'fine' }] }), null);
});

test('a value nested absurdly deep is refused instead of walked', () => {
  let v: unknown = 'x';
  for (let i = 0; i < 100; i++) v = [v];
  assert.match(findUnacceptableText(v)!.problem, /nested too deeply/);
});
