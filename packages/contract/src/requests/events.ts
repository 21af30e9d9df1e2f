/** Query strings of the event reads. */
import { z } from 'zod';
import { EVENT_TYPES, OPERATOR_EVENT_TYPES, isOperatorEventType, operatorEventRefusal, type EventType, type OperatorEventType } from '../events.ts';
import { intQuery, textQuery } from './reads.ts';

const DAY_MS = 86_400_000;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ]([\d:.]+)(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * An ISO 8601 date or date-time bound. A time without an offset is UTC (never the server's own zone). A date
 * alone is the start of that day (UTC), or, as an end (`end: true`), its last millisecond: the whole day is in.
 */
const dateQuery = (name: string, end = false) =>
  z
    .string({ error: `${name} must be given once` })
    .optional()
    .transform((v, ctx) => {
      if (!v) return undefined;
      const m = DATE_TIME.exec(v);
      let t = NaN;
      // a day that does not exist (2026-02-30) is refused, not rolled over
      if (m && new Date(`${m[1]}T00:00:00Z`).toISOString().slice(0, 10) === m[1]) {
        if (m[2] === undefined) t = Date.parse(`${m[1]}T00:00:00Z`) + (end ? DAY_MS - 1 : 0);
        else {
          const offset = m[3] === undefined ? 'Z' : m[3].replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
          t = Date.parse(`${m[1]}T${m[2]}${offset}`);
        }
      }
      if (Number.isNaN(t)) {
        ctx.addIssue({ code: 'custom', message: `${name} must be an ISO 8601 date or time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z` });
        return z.NEVER;
      }
      return new Date(t);
    });

const datesInOrder = { message: 'start_date must not be after end_date', path: ['end_date'] };

const WORKSPACE_EVENT_TYPES = EVENT_TYPES.filter((t) => t.startsWith('cvm.'));

/** `GET /apps/{app_id}/events`. */
export const appEventsQuerySchema = z
  .object({
    limit: intQuery('limit', 1, 1000).default(100),
    event_type: z
      .string({ error: 'event_type must be given once' })
      .optional()
      .transform((v, ctx) => {
        if (!v) return undefined;
        if (isOperatorEventType(v)) {
          ctx.addIssue({ code: 'custom', message: operatorEventRefusal(v) });
          return z.NEVER;
        }
        if (!(EVENT_TYPES as readonly string[]).includes(v)) {
          ctx.addIssue({ code: 'custom', message: `event_type must be one of ${WORKSPACE_EVENT_TYPES.join(', ')}` });
          return z.NEVER;
        }
        return v as EventType;
      }),
    /** a CVM's vm_uuid (dashes optional) */
    instance_id: textQuery('instance_id'),
    operation_type: textQuery('operation_type'),
    start_date: dateQuery('start_date'),
    end_date: dateQuery('end_date', true),
  })
  .refine((q) => !q.start_date || !q.end_date || q.start_date <= q.end_date, datesInOrder);

/** An event's id as the API shows it. */
export const EVENT_ID = /^evt_[0-9a-f]{32}$/;

/** `GET /api/v1/admin/events`: the operator's events. */
export const adminEventsQuerySchema = z
  .object({
    limit: intQuery('limit', 1, 500).default(50),
    /** repeat it, or give a comma list: the events of any of these types */
    event_type: z
      .union([z.string(), z.array(z.string())], { error: `event_type must be one of ${OPERATOR_EVENT_TYPES.join(', ')} (repeat it, or give a comma list, for several)` })
      .optional()
      .transform((v, ctx) => {
        if (v === undefined) return undefined;
        const types = [...new Set((Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))];
        for (const t of types) {
          if (isOperatorEventType(t)) continue;
          ctx.addIssue({
            code: 'custom',
            message: (EVENT_TYPES as readonly string[]).includes(t)
              ? `${t} is a workspace event: read it with GET /api/v1/apps/{app_id}/events; this endpoint lists the operator's events (${OPERATOR_EVENT_TYPES.join(', ')})`
              : `event_type must be one of ${OPERATOR_EVENT_TYPES.join(', ')}, not ${JSON.stringify(t.slice(0, 60))}`,
          });
          return z.NEVER;
        }
        return types.length ? (types as OperatorEventType[]) : undefined;
      }),
    /** a host's id (a number) or name */
    host: z
      .string({ error: 'host must be given once: a host id (a number) or a host name' })
      .max(63, 'host is at most 63 characters: a host id (a number) or a host name')
      .optional()
      .transform((v) => v || undefined),
    start_date: dateQuery('start_date'),
    end_date: dateQuery('end_date', true),
    /** an event's id: the events written after it, oldest first */
    after: z
      .string({ error: 'after must be given once: the id of an event (evt_…)' })
      .optional()
      .transform((v, ctx) => {
        if (!v) return undefined;
        if (!EVENT_ID.test(v)) {
          ctx.addIssue({ code: 'custom', message: 'after must be the id of an event this endpoint answered (evt_ followed by 32 hex digits)' });
          return z.NEVER;
        }
        return v;
      }),
  })
  .refine((q) => !q.start_date || !q.end_date || q.start_date <= q.end_date, datesInOrder);

export type AdminEventsQuery = z.output<typeof adminEventsQuerySchema>;
