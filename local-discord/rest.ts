// REST API (v10) of the Discord stand-in: routing, authentication, rate limits, injected faults
// and the call log. The routes themselves live in routes-*.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Core } from './core.ts';
import { parseBody, readBody } from './http.ts';
import { createFaults, faultAnswer } from './faults.ts';
import { MentionsError } from './model.ts';
import { createRateLimiter } from './ratelimit.ts';
import { appRoutes } from './routes-app.ts';
import type { AppRouteOptions } from './routes-app.ts';
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
  /** Set when failNext answered it: 'status' (its fault status, carried out first if accepted) or 'drop' (status 0, no answer). */
  fault?: 'status' | 'drop';
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
  opts: AppRouteOptions & { enforceRateLimits: boolean; webhookChannelLimit?: Limit; beforeRespond?: () => ((call: RestCall) => Promise<void> | void) | undefined },
) {
  const restCalls: RestCall[] = [];
  const callListeners = new Set<(c: RestCall) => void>();
  const limiter = createRateLimiter(opts.enforceRateLimits, opts.webhookChannelLimit);
  const faults = createFaults<RestCall>();
  /** Responses Discord counts toward its invalid-request (Cloudflare) ban. */
  let invalid = 0;
  const routes: Route[] = [];
  const route: RouteFn = (method, path, auth, limits, handler, o = {}) =>
    routes.push({ method, pattern: new RegExp(`^${path}$`), auth, limits: Array.isArray(limits) ? limits : [limits], handler, opts: o });

  const h = helpers(core);
  appRoutes(core, route, opts);
  channelRoutes(core, route, h);
  webhookRoutes(core, route, h);
  guildRoutes(core, route, h);

  /** Discord's answer: global limit, routing, auth, route limit, then the handler. */
  function answer(call: RestCall, url: URL, body: unknown): { status: number; payload: unknown; headers: Record<string, string> } {
    let status = 500;
    let headers: Record<string, string> = {};
    try {
      // The global limit comes first and counts every request made with the bot's token.
      const global = call.authorized ? limiter.global(call.at) : undefined;
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
        if (m && r.method === call.method) {
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
      const decision = limiter.route(r.opts.bucket ?? `${r.method} ${r.pattern.source}`, major, r.limits, call.at, r.opts.channelOf?.(params));
      headers = decision.headers;
      if (r.auth === 'bot' && !call.authorized) fail(401, 0, '401: Unauthorized');
      if (decision.limited) {
        throw new HttpError(429, { message: 'You are being rate limited.', retry_after: decision.limited.retryAfter, global: false });
      }
      const reply = r.handler({ params, query: url.searchParams, body: (body ?? {}) as Record<string, unknown> });
      return { status: reply.status, payload: reply.body, headers };
    } catch (err) {
      if (err instanceof HttpError) return { status: err.status, payload: err.body, headers };
      if (err instanceof MentionsError) {
        const errors = { [err.field]: { _errors: [{ code: 'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE', message: err.message }] } };
        return { status: 400, payload: { message: 'Invalid Form Body', code: 50035, errors }, headers };
      }
      return { status: 500, payload: { message: `stand-in error: ${String(err)}`, code: 0 }, headers };
    }
  }

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
    const fault = faults.take(call);
    // An unaccepted fault answers before Discord does anything; an accepted one after it did the work.
    // Files past the server's upload limit: Discord refuses the whole request before anything else.
    const tooLarge = raw.length > core.uploadLimitBytes ? { status: 413, payload: { message: 'Request entity too large', code: 40005 } as unknown, headers: {} as Record<string, string> } : undefined;
    let { status, payload, headers } = fault && !fault.accept ? { status: 0, payload: undefined, headers: {} } : (tooLarge ?? answer(call, url, body));
    if (fault) {
      call.fault = 'drop' in fault ? 'drop' : 'status';
      ({ status, payload, headers } = faultAnswer(fault, call.path));
    }
    call.status = status;
    if (status === 401 || status === 403 || (status === 429 && headers['X-RateLimit-Scope'] !== 'shared')) invalid += 1;
    restCalls.push(call);
    for (const l of [...callListeners]) l(call);
    if (fault) faults.applied(fault, call);
    // Lets a test act between Discord doing the work and the client hearing of it.
    await opts.beforeRespond?.()?.(call);
    if (res.destroyed) return;
    if (call.fault === 'drop') {
      req.socket.destroy();
      return;
    }
    res.statusCode = status;
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (status === 204 || payload === undefined) {
      res.end();
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(payload));
  }

  return { handle, restCalls, callListeners, failNext: faults.add, invalidRequests: () => invalid };
}
