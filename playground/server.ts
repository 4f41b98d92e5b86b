// The web server of the playground and the transcript viewer: the pages, the Discord-like message
// components (served from node_modules, with the lit modules they import), generated avatars, and
// the channel and viewer APIs. Loopback by default: it acts as a Discord member, with no log-in.
import type { Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import { scrubSecrets } from '../core/log.ts';
import { avatarSvg } from './avatars.ts';
import { channelRoutes, type ChannelRoutesOptions } from './channel-routes.ts';
import { viewerRoutes, type RecordReader } from './viewer-routes.ts';

export interface WebServerOptions {
  host: string;
  port: number;
  /** The playground serves a channel (attached with attachChannel once chorus runs); the viewer alone does not. */
  playground: boolean;
  records: () => Promise<RecordReader>;
  /** Said on the viewer page: which record store it reads. */
  recordsLabel: string;
}

export interface WebServer {
  url: string;
  /** The port it listens on (PLAYGROUND_PORT=0 picks a free one). */
  port: number;
  /** Serves the playground's channel from now on (until then its API answers 503). */
  attachChannel(channel: ChannelRoutesOptions): void;
  close(): Promise<void>;
}

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** The packages the page imports, by the names its import map uses. */
const VENDOR = ['@skyra/discord-components-core', 'lit', 'lit-html', 'lit-element', '@lit/reactive-element', '@lit/context'];

/** The Discord message components and the lit modules they import, as both pages import them. */
export const IMPORT_MAP = {
  imports: {
    '@skyra/discord-components-core': '/vendor/@skyra/discord-components-core/dist/index.js',
    lit: '/vendor/lit/index.js',
    'lit/': '/vendor/lit/',
    'lit-html': '/vendor/lit-html/lit-html.js',
    'lit-html/': '/vendor/lit-html/',
    'lit-element': '/vendor/lit-element/index.js',
    'lit-element/': '/vendor/lit-element/',
    '@lit/reactive-element': '/vendor/@lit/reactive-element/reactive-element.js',
    '@lit/reactive-element/': '/vendor/@lit/reactive-element/',
    '@lit/context': '/vendor/@lit/context/index.js',
  },
};

/** A page with the import map in place of its `<!-- import map -->` (an import map cannot be a file of its own). */
async function page(file: string): Promise<string> {
  const html = await readFile(here(`./page/${file}`), 'utf8');
  return html.replace('<!-- import map -->', `<script type="importmap">${JSON.stringify(IMPORT_MAP)}</script>`);
}

export async function startWebServer(o: WebServerOptions): Promise<WebServer> {
  const app = express();
  app.disable('x-powered-by');
  // The page spends the model keys in .env: a web page elsewhere must not reach it through a name
  // that resolves to this machine (DNS rebinding). Only the loopback names and the address it is
  // bound to are answered (bound to every interface, as in a container: loopback only).
  const everywhere = o.host === '0.0.0.0' || o.host === '::';
  const names = new Set(['localhost', '127.0.0.1', '::1', ...(everywhere ? [] : [o.host])]);
  app.use((req, res, next) => {
    const name = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    if (names.has(name)) return next();
    res.status(403).type('text/plain').send(`This server answers only to ${[...names].join(', ')} (see PLAYGROUND_HOST / VIEWER_HOST).`);
  });
  app.use(express.json({ limit: '64kb' }));
  app.use('/page', express.static(here('./page/'), { index: false }));
  for (const name of VENDOR) app.use(`/vendor/${name}`, express.static(here(`../node_modules/${name}/`), { index: false, dotfiles: 'ignore' }));
  app.get('/avatars/:file', (req, res) => {
    const name = decodeURIComponent(req.params.file.replace(/\.svg$/, '')).slice(0, 80);
    res.type('image/svg+xml').set('cache-control', 'max-age=86400').send(avatarSvg(name));
  });
  app.get('/favicon.ico', (_req, res) => res.redirect('/avatars/chorus.svg'));
  const pages = { playground: await page('playground.html'), viewer: await page('viewer.html') };
  app.get('/', (_req, res) => (o.playground ? res.type('html').send(pages.playground) : res.redirect('/viewer')));
  app.get(['/viewer', '/viewer/*rest'], (_req, res) => res.type('html').send(pages.viewer));
  app.get('/api/about', (_req, res) => res.json({ playground: o.playground, records: o.recordsLabel }));
  let channel: express.Router | undefined;
  app.use('/api/channel', (req, res, next) => (channel ? channel(req, res, next) : res.status(503).json({ error: o.playground ? 'The playground is still starting.' : 'This is the viewer alone: there is no channel.' })));
  app.use('/api/records', viewerRoutes(o.records));
  app.use('/api', (_req, res) => res.status(404).json({ error: 'No such API route.' }));
  // A failure answers that one request, in a sentence; the details stay in the terminal.
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    const message = scrubSecrets(err.message);
    console.error(`chorus playground: ${message}`);
    if (!res.headersSent) res.status(500).json({ error: `Something went wrong: ${message.slice(0, 200)}` });
  });

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(o.port, o.host, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  // Bound to every interface (in a container): the visitor still opens it on loopback.
  const reachable = everywhere ? '127.0.0.1' : o.host;
  const shownHost = reachable.includes(':') ? `[${reachable}]` : reachable;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    attachChannel: (c) => void (channel = channelRoutes(c)),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
