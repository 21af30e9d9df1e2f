/** The SDK's errors and the `safe*` result form. */
import type { CvmDetail } from './updates.ts';

/** One entry of an API error's `details` (`value` carries data, e.g. the fields of a 465 prepare-only answer). */
export interface ErrorDetail {
  field?: string;
  message?: string;
  value?: unknown;
}

/**
 * An API error: the HTTP status, the `ERR-xx-yyy` code and the server's message. Errors raised by the SDK
 * itself before or after a request (an env that would not pass the guest's rules, a wait that failed)
 * have `status` 0 and `code` null.
 */
export class OpenCvmError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    readonly details: ErrorDetail[] = [],
    readonly suggestions: string[] = [],
  ) {
    super(message);
    this.name = 'OpenCvmError';
  }
}

/**
 * `waitForOperation` / `waitForStatus` did not see what they waited for:
 * - `timeout`: not reached within `timeoutMs`;
 * - `failed`: the CVM settled in `exited` or `error` (a boot failed; `message` carries the host's boot error);
 * - `not_applied`: the operation ended but the CVM is not on the compose hash it was meant to reach (the host
 *   refused the change and the CVM was booted again on its previous configuration), or not in the status the
 *   operation was heading for.
 * `cvm` is the last state read.
 */
export class CvmWaitError extends OpenCvmError {
  constructor(
    message: string,
    readonly reason: 'timeout' | 'failed' | 'not_applied',
    readonly cvm: CvmDetail | null,
  ) {
    super(message, 0, null);
    this.name = 'CvmWaitError';
  }
}

export type SafeResult<T> = { success: true; data: T } | { success: false; error: OpenCvmError };

export async function safe<T>(p: Promise<T>): Promise<SafeResult<T>> {
  try {
    return { success: true, data: await p };
  } catch (e) {
    return { success: false, error: e instanceof OpenCvmError ? e : new OpenCvmError(String((e as Error)?.message ?? e), 0, null) };
  }
}

/** An HTTP error answer → OpenCvmError (`{"detail": {error_code, message, details, suggestions}}`, or a string detail). */
export function toError(status: number, data: unknown, text: string): OpenCvmError {
  const detail = (data as { detail?: unknown } | undefined)?.detail;
  if (detail && typeof detail === 'object' && !Array.isArray(detail)) {
    const d = detail as { error_code?: string; message?: string; details?: ErrorDetail[]; suggestions?: string[] };
    return new OpenCvmError(d.message ?? `HTTP ${status}`, status, d.error_code ?? null, d.details ?? [], d.suggestions ?? []);
  }
  if (typeof detail === 'string') return new OpenCvmError(detail, status, null);
  return new OpenCvmError(text || `HTTP ${status}`, status, null);
}
