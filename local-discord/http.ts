// Request-body helpers for the Discord stand-in's REST server.
import type { IncomingMessage } from 'node:http';

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** JSON, or multipart/form-data reduced to its payload_json (file parts become attachment stubs). */
export function parseBody(contentType: string, raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  if (contentType.startsWith('multipart/form-data')) {
    const boundary = /boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
    if (!boundary) return undefined;
    let payload: Record<string, unknown> = {};
    const files: { filename: string }[] = [];
    for (const part of raw.toString('latin1').split(`--${boundary}`)) {
      const [head = '', ...rest] = part.split('\r\n\r\n');
      const content = rest.join('\r\n\r\n').replace(/\r\n$/, '');
      const name = /name="([^"]*)"/.exec(head)?.[1];
      const filename = /filename="([^"]*)"/.exec(head)?.[1];
      if (name === 'payload_json') payload = JSON.parse(Buffer.from(content, 'latin1').toString('utf8')) as Record<string, unknown>;
      else if (filename !== undefined) files.push({ filename });
    }
    return files.length ? { ...payload, _files: files } : payload;
  }
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return raw.toString('utf8');
  }
}
