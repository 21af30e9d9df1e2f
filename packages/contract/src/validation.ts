import { z } from 'zod';
import { ApiError, ErrorCodes, type ErrorDetail } from './errors.ts';

/**
 * Parse `input` with a zod schema, or throw a 422 `ERR-02-008` whose message names every field to fix.
 * `where` prefixes field paths ("body", "query") only in the details, never in the message.
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw validationError(result.error);
}

export function validationError(error: z.ZodError): ApiError {
  const details: ErrorDetail[] = error.issues.map((issue) => ({
    field: issue.path.join('.') || undefined,
    message: issue.message,
  }));
  const message = details.map((d) => (d.field ? `${d.field}: ${d.message}` : d.message)).join('; ');
  return new ApiError(422, ErrorCodes.INVALID_REQUEST, message || 'The request body is invalid.', { details });
}
