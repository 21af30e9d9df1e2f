/**
 * The query of the signed log URLs (`syslog_endpoint`, `log_endpoint`), which the `phala` CLI fetches with
 * no API key, appending its own flags (`follow`, `tail`, `lines`, `ansi`, ...). Flags may be bare (`&follow`).
 */
import { z } from 'zod';

const flag = z.string().optional();
const lineCount = z
  .string()
  .regex(/^(\d{1,9}|all)?$/, 'tail/lines must be a number of lines or "all"')
  .optional();

const common = {
  cvm: z.string({ error: 'A log URL names its CVM with cvm=<vm_uuid>: use the URL the API returned.' }),
  /** when the URL stops working (unix seconds); signed with it */
  exp: z.string().optional(),
  token: z.string().optional(),
  tail: lineCount,
  lines: lineCount,
  follow: flag,
  ansi: flag,
  since: flag,
  until: flag,
  timestamps: flag,
};

export const syslogQuerySchema = z.looseObject({
  ...common,
  ch: z.enum(['serial', 'stdout', 'stderr', ''], { error: 'ch must be serial, stdout or stderr' }).optional(),
});

export const containerLogQuerySchema = z.looseObject({ ...common, text: flag, bare: flag });
