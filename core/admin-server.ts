// The admin pages each process serves on its own port: /metrics (Prometheus), and on the gateway the
// queue dashboard (bull-board) under /queues. Every page needs ADMIN_TOKEN, as a bearer token
// (Prometheus's `authorization`) or as the password of HTTP Basic auth (a browser asks for it).
// Without a token nothing listens. Loopback by default.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import { keepSecret, type Logger } from './log.ts';

export type PageHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface AdminOptions {
  token: string | undefined;
  host: string;
  port: number;
  registry: Registry;
  log: Logger;
  /** The variable that sets this process's port, named in log lines. */
  portVariable: string;
  /** Pages under a path (the queue dashboard), made on the first request that asks for them. */
  pages?: { path: string; handler: () => Promise<PageHandler> };
}

export interface AdminServer {
  /** http://host:port, with the port actually bound. */
  url: string;
  close(): Promise<void>;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Pure: whether an Authorization header carries the token (Bearer, or Basic with it as the password). */
export function authorized(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const [scheme, value = ''] = header.trim().split(/\s+/, 2);
  let given: string | undefined;
  if (scheme?.toLowerCase() === 'bearer') given = value;
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    given = decoded.slice(decoded.indexOf(':') + 1);
  }
  // Compared as digests: equal lengths, constant time.
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

/** Starts the admin server, or says once why there is none; never stops the process. */
export async function startAdminServer(o: AdminOptions): Promise<AdminServer | undefined> {
  if (!o.token) {
    o.log.info('admin pages off: set ADMIN_TOKEN to serve /metrics (and the queue dashboard on the gateway)');
    return undefined;
  }
  keepSecret(o.token);
  const token = o.token;
  let pages: Promise<PageHandler> | undefined;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!authorized(req.headers.authorization, token)) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="chorus admin", charset="UTF-8"', 'content-type': 'text/plain' }).end('ADMIN_TOKEN needed (Bearer, or as the Basic password)\n');
      return;
    }
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
      o.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`could not collect metrics: ${err.message}\n`),
      );
      return;
    }
    if (o.pages && (path === o.pages.path || path.startsWith(`${o.pages.path}/`))) {
      pages ??= o.pages.handler();
      pages.then(
        (handle) => handle(req, res),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`could not load the page: ${err.message}\n`),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`not here: try /metrics${o.pages ? ` or ${o.pages.path}` : ''}\n`);
  });
  // A slow or idle client must not hold the process's stop for long.
  server.keepAliveTimeout = 5_000;
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      o.log.warn({ host: o.host, port: o.port, code: err.code }, `admin pages off: cannot listen there (another process on this machine? set ${o.portVariable}=0 for any free port)`);
      resolve(false);
    });
    server.listen(o.port, o.host, () => resolve(true));
  });
  if (!listening) return undefined;
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${host}:${port}`;
  o.log.info({ url, pages: ['/metrics', ...(o.pages ? [o.pages.path] : [])] }, 'admin pages ready');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The queue dashboard (bull-board, express adapter) for the given queues, mounted at `path`. Loaded on first use. */
export async function queueDashboard(queues: readonly Queue[], path = '/queues'): Promise<PageHandler> {
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }, { default: express }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/express'),
    import('express'),
  ]);
  const adapter = new ExpressAdapter();
  adapter.setBasePath(path);
  // @bull-board/express pins its own copy of @bull-board/api (a patch release apart): the same
  // shapes, declared twice, hence the cast.
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q as never)), serverAdapter: adapter as never });
  const app = express();
  app.disable('x-powered-by');
  app.use(path, adapter.getRouter());
  return (req, res) => app(req, res);
}
