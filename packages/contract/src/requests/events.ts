/** Query strings of the event reads. */
import { z } from 'zod';
import { EVENT_TYPES, type EventType } from '../events.ts';
import { intQuery, textQuery } from './reads.ts';

const dateQuery = (name: string) =>
  z
    .string({ error: `${name} must be given once` })
    .optional()
    .transform((v, ctx) => {
      if (!v) return undefined;
      const t = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) ? Date.parse(v) : NaN;
      if (Number.isNaN(t)) {
        ctx.addIssue({ code: 'custom', message: `${name} must be an ISO 8601 date or time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z` });
        return z.NEVER;
      }
      return new Date(t);
    });

/** `GET /apps/{app_id}/events`. */
export const appEventsQuerySchema = z
  .object({
    limit: intQuery('limit', 1, 1000).default(100),
    event_type: z
      .string({ error: 'event_type must be given once' })
      .optional()
      .transform((v, ctx) => {
        if (!v) return undefined;
        if (!(EVENT_TYPES as readonly string[]).includes(v)) {
          ctx.addIssue({ code: 'custom', message: `event_type must be one of ${EVENT_TYPES.filter((t) => t.startsWith('cvm.')).join(', ')}` });
          return z.NEVER;
        }
        return v as EventType;
      }),
    /** a CVM's vm_uuid (dashes optional) */
    instance_id: textQuery('instance_id'),
    operation_type: textQuery('operation_type'),
    start_date: dateQuery('start_date'),
    end_date: dateQuery('end_date'),
  })
  .refine((q) => !q.start_date || !q.end_date || q.start_date <= q.end_date, {
    message: 'start_date must not be after end_date',
    path: ['end_date'],
  });
