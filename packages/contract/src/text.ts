/**
 * What text the API accepts, decided once for every string a request carries (path, query, JSON body,
 * raw text body). PostgreSQL cannot store a NUL character, and a lone UTF-16 surrogate is not Unicode
 * text (it cannot be encoded as UTF-8, and jsonb refuses its escape): both are refused up front with a
 * 4xx that names the field, instead of reaching the database.
 */
import { z } from 'zod';

// eslint-disable-next-line no-control-regex
const NUL = /\u0000/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string is not acceptable text, or null if it is. */
export function textProblem(s: string): string | null {
  if (NUL.test(s)) return 'must not contain NUL (\\u0000) characters';
  if (LONE_SURROGATE.test(s)) return 'must be valid Unicode text (it contains an unpaired UTF-16 surrogate)';
  return null;
}

/**
 * The first string in a decoded value (object keys included) that is not acceptable text, with its path
 * (`compose_file.docker_compose_file`, `env_keys.2`), or null. Bounded: values nested deeper than 64
 * levels are reported as such rather than walked.
 */
export function findUnacceptableText(value: unknown, path: (string | number)[] = [], depth = 0): { path: string; problem: string } | null {
  if (typeof value === 'string') {
    const problem = textProblem(value);
    return problem ? { path: path.join('.'), problem } : null;
  }
  if (value === null || typeof value !== 'object') return null;
  if (depth > 64) return { path: path.join('.'), problem: 'is nested too deeply (more than 64 levels)' };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnacceptableText(value[i], [...path, i], depth + 1);
      if (found) return found;
    }
    return null;
  }
  for (const [k, v] of Object.entries(value)) {
    const keyProblem = textProblem(k);
    if (keyProblem) return { path: [...path, k].join('.'), problem: `has a key that ${keyProblem}` };
    const found = findUnacceptableText(v, [...path, k], depth + 1);
    if (found) return found;
  }
  return null;
}

/** A string schema that refuses what `textProblem` refuses (for schemas used outside a request, e.g. the SDK's). */
export const text = () => z.string().superRefine((s, ctx) => {
  const problem = textProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
