/**
 * `multipart/form-data` bodies (RFC 7578), read whole (at most 1 MiB) into an object of fields: a text field
 * as its text, a file part's bytes as hex (so the body stays text, which the route's checks and the contract's
 * schema read). Only the endpoints whose contract says `multipart` read it; a form that does not parse is a 400.
 */
import { ApiError, ErrorCodes } from '@opencvm/core';

const bad = (message: string) => new ApiError(400, ErrorCodes.INVALID_REQUEST, `The multipart form does not parse: ${message}.`);

export function parseMultipart(contentType: string, body: Buffer): Record<string, string> {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const b = boundary?.[1] ?? boundary?.[2];
  if (!b) throw bad('the Content-Type has no boundary');
  const delimiter = Buffer.from(`--${b}`);
  const fields: Record<string, string> = {};
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw bad('the body has no part');
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break; // closing delimiter
    if (body.subarray(pos, pos + 2).toString() === '\r\n') pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw bad('a part has no header');
    const headers = body.subarray(pos, headerEnd).toString('latin1');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (next < 0) throw bad('the closing boundary is missing');
    const content = body.subarray(headerEnd + 4, next);
    const disposition = /^content-disposition:\s*form-data(.*)$/im.exec(headers)?.[1] ?? '';
    const name = /;\s*name="([^"]*)"/i.exec(disposition)?.[1] ?? /;\s*name=([^;\s]+)/i.exec(disposition)?.[1];
    if (!name) throw bad('a part has no name (Content-Disposition: form-data; name="…")');
    const isFile = /;\s*filename\*?=/i.test(disposition);
    if (name in fields) throw bad(`the field ${name} is sent twice`);
    fields[name] = isFile ? content.toString('hex') : content.toString('utf8');
    pos = next + 2;
  }
  return fields;
}
