// Attachments of the stand-in: Discord attachment objects and the "CDN" that serves their bytes
// at /attachments/{channel}/{id}/{filename} (url and proxy_url both point at the stand-in).
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Core } from './core.ts';

export interface AttachmentInput {
  filename: string;
  contentType: string;
  /** Bytes served (padded or cut to this length); defaults to the stand-in's sample length. */
  size?: number;
  /** Image dimensions; default 1x1 (the sample PNG) for image/* content types. */
  width?: number;
  height?: number;
}

// A valid 1x1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

function sample(a: AttachmentInput): Buffer {
  const base = a.contentType.startsWith('image/png') ? PNG : Buffer.from(`stand-in attachment ${a.filename}\n`);
  if (a.size === undefined || a.size === base.length) return base;
  return a.size < base.length ? base.subarray(0, a.size) : Buffer.concat([base, Buffer.alloc(a.size - base.length, 0x20)]);
}

/** Stores the files and returns Discord attachment objects for a message in channelId. */
export function makeAttachments(core: Core, channelId: string, inputs: AttachmentInput[]): Record<string, unknown>[] {
  return inputs.map((a) => {
    const id = core.nextId();
    const bytes = sample(a);
    const path = `/attachments/${channelId}/${id}/${encodeURIComponent(a.filename)}`;
    core.attachments.set(path, { contentType: a.contentType, bytes });
    // Discord signs CDN links: ex (expiry) and is (issued), hex seconds, and an HMAC hm.
    const issued = Math.floor(Date.now() / 1000);
    const ex = (issued + 86_400).toString(16);
    const is = issued.toString(16);
    const hm = createHash('sha256').update(`${path}${ex}${is}`).digest('hex');
    const signed = `${path}?ex=${ex}&is=${is}&hm=${hm}&`;
    const image = a.contentType.startsWith('image/');
    return {
      id,
      filename: a.filename,
      size: bytes.length,
      url: `${core.origin}${signed}`,
      proxy_url: `${core.origin}${signed}`,
      content_type: a.contentType,
      ...(image ? { width: a.width ?? 1, height: a.height ?? 1, placeholder_version: 1 } : {}),
    };
  });
}

/** Serves a stored attachment; returns false when the request is not for /attachments/. */
export function serveAttachment(core: Core, req: IncomingMessage, res: ServerResponse): boolean {
  const url = new URL(req.url ?? '/', 'http://stand-in');
  if (!url.pathname.startsWith('/attachments/')) return false;
  const file = core.attachments.get(url.pathname);
  if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.statusCode = 404;
    res.setHeader('Content-Type', 'text/plain');
    res.end('This content is no longer available.');
    return true;
  }
  res.statusCode = 200;
  res.setHeader('Content-Type', file.contentType);
  res.setHeader('Content-Length', String(file.bytes.length));
  res.end(req.method === 'HEAD' ? undefined : file.bytes);
  return true;
}
