// REST API (v10) of the Discord stand-in: routing, authentication, rate limits and the call log.
// The routes themselves live in discord-routes-*.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Core } from './core.ts';
import { parseBody, readBody } from './http.ts';
import { MentionsError } from './model.ts';
import { createRateLimiter } from './ratelimit.ts';
import { channelRoutes } from './routes-channels.ts';
import { guildRoutes } from './routes-guild.ts';
import { webhookRoutes } from './routes-webhooks.ts';
import { fail, helpers, HttpError } from './routing.ts';
import type { Auth, Handler, RouteFn, RouteOptions } from './routing.ts';
import type { Limit } from './ratelimit.ts';

export { HttpError } from './routing.ts';

export interface RestCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  /** Date.now() when the request arrived (after its body was read). */
  at: number;
  status: number;
  /** Carried Authorization: Bot <the right token> (so it counts against the bot's global limit). */
  authorized: boolean;
}

interface Route {
  method: string;
  pattern: RegExp;
  auth: Auth;
  limits: Limit[];
  handler: Handler;
  opts: RouteOptions;
}

export function createRest(
  core: Core,
  opts: { enforceRateLimits: boolean; gatewayUrl: () => string; beforeRespond?: () => ((call: RestCall) => Promise<void> | void) | undefined },
) {
  const restCalls: RestCall[] = [];
  const callListeners = new Set<(c: RestCall) => void>();
  const limiter = createRateLimiter(opts.enforceRateLimits);
  const routes: Route[] = [];
  const route: RouteFn = (method, path, auth, limits, handler, o = {}) =>
    routes.push({ method, pattern: new RegExp(`^${path}$`), auth, limits: Array.isArray(limits) ? limits : [limits], handler, opts: o });

  const h = helpers(core);
  channelRoutes(core, route, h, opts.gatewayUrl);
  webhookRoutes(core, route, h);
  guildRoutes(core, route);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Arrival time, as Discord would count it: before the body is read.
    const arrivedAt = Date.now();
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    const body = parseBody(req.headers['content-type'] ?? '', raw);
    const query = Object.fromEntries(url.searchParams);
    const authorized = req.headers.authorization === `Bot ${core.token}`;
    const call: RestCall = { method, path: url.pathname, query, body, at: arrivedAt, status: 0, authorized };
    let status = 500;
    let payload: unknown;
    let headers: Record<string, string> = {};
    try {
      // The global limit comes first and counts every request made with the bot's token.
      const global = authorized ? limiter.global(call.at) : undefined;
      if (global?.limited) {
        headers = global.headers;
        throw new HttpError(429, { message: 'You are being rate limited.', retry_after: global.limited.retryAfter, global: true });
      }
      if (!url.pathname.startsWith('/api/v10/')) fail(404, 0, '404: Not Found');
      // discord.js percent-encodes '@' in '@original'; match on decoded segments.
      const path = url.pathname.slice('/api/v10'.length).split('/').map((seg) => decodeURIComponent(seg)).join('/');
      let matched: { r: Route; params: string[] } | undefined;
      for (const r of routes) {
        const m = r.pattern.exec(path);
        if (m && r.method === method) {
          matched = { r, params: m.slice(1).map((p) => p ?? '') };
          break;
        }
        if (m && !matched) status = 405;
      }
      if (!matched) {
        if (status === 405) fail(405, 0, '405: Method Not Allowed');
        return fail(404, 0, '404: Not Found');
      }
      const { r, params } = matched;
      const major = r.opts.major ? r.opts.major(params) : (params[0] ?? '');
      const decision = limiter.route(r.opts.bucket ?? `${r.method} ${r.pattern.source}`, major, r.limits, call.at);
      headers = decision.headers;
      if (r.auth === 'bot' && !authorized) fail(401, 0, '401: Unauthorized');
      if (decision.limited) {
        throw new HttpError(429, { message: 'You are being rate limited.', retry_after: decision.limited.retryAfter, global: false });
      }
      const reply = r.handler({ params, query: url.searchParams, body: (body ?? {}) as Record<string, unknown> });
      status = reply.status;
      payload = reply.body;
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        payload = err.body;
      } else if (err instanceof MentionsError) {
        status = 400;
        payload = { message: 'Invalid Form Body', code: 50035, errors: { [err.field]: { _errors: [{ code: 'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE', message: err.message }] } } };
      } else {
        status = 500;
        payload = { message: `stand-in error: ${String(err)}`, code: 0 };
      }
    }
    call.status = status;
    restCalls.push(call);
    for (const l of [...callListeners]) l(call);
    // Lets a test act between Discord doing the work and the client hearing of it.
    await opts.beforeRespond?.()?.(call);
    if (res.destroyed) return;
    res.statusCode = status;
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (status === 204 || payload === undefined) {
      res.end();
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(payload));
  }

  return { handle, restCalls, callListeners };
}
