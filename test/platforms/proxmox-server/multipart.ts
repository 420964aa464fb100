// The multipart body of POST /nodes/{node}/storage/{storage}/upload, parsed the way pveproxy does
// (pve-http-server AnyEvent.pm file_upload_multipart, PVE 8/9): a Content-Length and a boundary are required, the
// fields `content`, `checksum-algorithm` and `checksum` are taken in that order before the file, and the file part's
// first line must be `Content-Disposition: form-data; name="filename"; filename="..."`. Failures are 501s.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { PveError } from './pve-error.ts';

const fail = (message: string) => new PveError(501, message);

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function parseUpload(
  headers: IncomingHttpHeaders,
  body: Buffer,
): { params: Record<string, string>; data: Buffer } {
  const ctype = String(headers['content-type'] ?? '');
  const te = String(headers['transfer-encoding'] ?? '');
  if (te.toLowerCase() === 'chunked') throw fail('chunked transfer encoding not supported');
  const [ct, ...rest] = ctype.split(/\s*[;,]\s*/);
  const boundary = rest.map((p) => /^\s*boundary\s*=\s*(\S+?)\s*$/.exec(p)?.[1]).find((b) => b !== undefined);
  if (!(boundary && ct === 'multipart/form-data')) throw fail(`upload 'Content-Type '${ctype}' not implemented`);
  if (!headers['content-length']) throw fail('upload without content length header not supported');
  // Latin-1 maps every byte to one character and back: regular expressions over the raw body, file bytes intact.
  let buf = body.toString('latin1');
  const nl = '\\r?\\n';
  const delim = `--${escape(boundary)}${nl}`;
  const start = new RegExp(`^[\\s\\S]*?(${delim})`).exec(buf);
  if (!start) throw fail('upload failed');
  buf = buf.slice(start.index + start[0].length - start[1]!.length);
  const params: Record<string, string> = {};
  for (const name of ['content', 'checksum-algorithm', 'checksum']) {
    const m = new RegExp(
      `^${delim}Content-Disposition: (.*?); name="${escape(name)}"${nl}(?:[^\\r\\n]+${nl})*${nl}([\\s\\S]*?)${nl}(?=${delim})`,
    ).exec(buf);
    if (!m) continue;
    if (m[1] !== 'form-data') throw fail(`wrong Content-Disposition '${m[1]}' in multipart, expected 'form-data'`);
    params[name] = m[2]!.trim();
    buf = buf.slice(m[0].length);
  }
  const file = new RegExp(`^${delim}Content-Disposition: (.*?); name="(.*?)"; filename="([^"]+)"${nl}`).exec(buf);
  if (!file) throw fail('upload failed');
  if (file[1] !== 'form-data') throw fail(`wrong Content-Disposition '${file[1]}' in multipart, expected 'form-data'`);
  if (file[2] !== 'filename') throw fail(`wrong field name '${file[2]}' for file upload, expected 'filename'`);
  buf = buf.slice(file[0].length).replace(/^[\s\S]*?\r?\n\r?\n/, ''); // the part's other headers (Content-Type)
  const end = new RegExp(`^([\\s\\S]*?)(?:\\r?\\n)?--${escape(boundary)}--`).exec(buf);
  if (!end) throw fail('upload failed');
  const data = Buffer.from(end[1]!, 'latin1');
  params.filename = file[3]!.trim();
  params.tmpfilename = `/var/tmp/pveupload-${createHash('md5').update(data).update(String(Date.now())).digest('hex')}`;
  return { params, data };
}
