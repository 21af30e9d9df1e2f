/**
 * The error envelope as a client sees it, checked from the raw answer (status, Content-Type, body text) so
 * that answers written outside any route (on the socket by the HTTP parser's handler) are checked too:
 * `{"detail": {"error_code": "ERR-xx-yyy", "message", "details", "suggestions", "links", "request_id"?}}` and the
 * same fields, equal, at the top level (where the Python SDK reads them).
 */
import assert from 'node:assert/strict';

interface Structured {
  error_code: string;
  message: string;
  details: { field?: string; value?: unknown; message?: string }[];
  suggestions: string[];
  links: { label: string; url: string }[];
  request_id?: string;
}
export type Envelope = { detail: Structured } & Structured;

const STRUCTURED_KEYS = ['error_code', 'message', 'details', 'suggestions', 'links', 'request_id'];

/** What is wrong with an error answer, or null if it is the envelope. */
export function envelopeProblem(contentType: string | null | undefined, body: string): string | null {
  if (!/^application\/json/i.test(contentType ?? '')) return `Content-Type is ${contentType ?? 'missing'}, not application/json`;
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return `the body is not JSON: ${JSON.stringify(body.slice(0, 200))}`;
  }
  const d = (v as { detail?: Record<string, unknown> } | null)?.detail;
  if (!d || typeof d !== 'object') return `no "detail" object: ${body.slice(0, 200)}`;
  if (typeof d.error_code !== 'string' || !/^ERR-\d{2}-\d{3}$/.test(d.error_code)) return `detail.error_code is not an ERR- code: ${body.slice(0, 200)}`;
  if (typeof d.message !== 'string' || !d.message) return `detail.message is missing: ${body.slice(0, 200)}`;
  if (!Array.isArray(d.details) || !Array.isArray(d.suggestions) || !Array.isArray(d.links)) {
    return `detail.details, suggestions and links must be arrays: ${body.slice(0, 200)}`;
  }
  const top = v as Record<string, unknown>;
  for (const k of STRUCTURED_KEYS) {
    if (JSON.stringify(top[k]) !== JSON.stringify(d[k])) return `the top-level ${k} is not detail.${k}: ${body.slice(0, 200)}`;
  }
  return null;
}

/** Assert an answer is `status` in the envelope (with `code`, if given); returns the envelope. */
export function assertEnvelope(
  answer: { status: number; contentType: string | null | undefined; body: string },
  status: number,
  code?: string,
  what = '',
): Envelope {
  const label = what ? `${what}: ` : '';
  assert.equal(answer.status, status, `${label}status (body: ${answer.body.slice(0, 300)})`);
  const problem = envelopeProblem(answer.contentType, answer.body);
  assert.equal(problem, null, `${label}${problem}`);
  const env = JSON.parse(answer.body) as Envelope;
  if (code) assert.equal(env.detail.error_code, code, `${label}error_code (${env.detail.message})`);
  return env;
}

/** `fetch` an URL and return what `assertEnvelope` takes. */
export async function fetchAnswer(url: string, init: RequestInit = {}) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, contentType: res.headers.get('content-type'), headers: res.headers, body: await res.text() };
}
