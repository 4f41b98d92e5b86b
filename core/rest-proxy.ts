// One rate-limit authority for every worker: an HTTP proxy in front of Discord's REST API that
// sends all requests through a single @discordjs/rest instance, which sees every bucket and the
// global limit. Modelled on @discordjs/proxy, but it passes Discord's rate-limit headers back so
// workers can budget streaming edits.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DefaultRestOptions, DiscordAPIError, HTTPError, RateLimitError, REST, type RequestMethod } from './discord-rest.ts';

/** Response headers that describe the upstream connection or the body's encoding, not the answer. */
const NOT_PASSED_ON = new Set(['content-encoding', 'content-length', 'transfer-encoding', 'connection', 'keep-alive']);

/**
 * Keeps requests within `perSecond` in every second *as Discord receives them*. A request
 * arrives some time between being sent and being answered, so each one holds its place from the
 * moment it is sent until one second after its answer: then no second can hold more than
 * `perSecond` arrivals, whatever the network or a busy event loop does to timing. (A window on
 * send times alone — what @discordjs/rest does, in fixed windows — lets jitter bunch arrivals.)
 */
export function createArrivalGate(perSecond: number): { acquire(): Promise<void>; release(): void } {
  let inFlight = 0;
  const answeredAt: number[] = [];
  const waiting: (() => void)[] = [];
  let timer: NodeJS.Timeout | undefined;

  function occupied(now: number): number {
    while (answeredAt.length && now - answeredAt[0]! >= 1000) answeredAt.shift();
    return inFlight + answeredAt.length;
  }
  function wake(): void {
    const now = performance.now();
    while (waiting.length && occupied(now) < perSecond) {
      inFlight += 1;
      waiting.shift()!();
    }
    if (waiting.length && !timer && answeredAt.length) {
      timer = setTimeout(() => {
        timer = undefined;
        wake();
      }, 1000 - (now - answeredAt[0]!) + 1);
    }
  }
  return {
    acquire() {
      return new Promise<void>((resolve) => {
        waiting.push(resolve);
        wake();
      });
    },
    release() {
      inFlight -= 1;
      answeredAt.push(performance.now());
      wake();
    },
  };
}

/** Discord's global limit for a bot. */
export const DEFAULT_BOT_REQUESTS_PER_SECOND = 50;

/**
 * The proxy's REST instance: its own (fixed-window) global counter is set out of the way, and
 * the arrival gate holds each bot request from the moment it really leaves until it is answered.
 */
export function createProxyRest(upstream: string, botRequestsPerSecond = DEFAULT_BOT_REQUESTS_PER_SECOND): REST {
  const botGate = createArrivalGate(botRequestsPerSecond);
  // Requests without a token (webhook executions) are limited per IP address, also 50 a second.
  const ipGate = createArrivalGate(DEFAULT_BOT_REQUESTS_PER_SECOND);
  return new REST({
    api: upstream,
    version: '10',
    globalRequestsPerSecond: 10_000,
    // Never repeat a request on the caller's behalf: a post Discord carried out but whose answer was
    // lost must not go out twice. The caller knows (from its reply ledger) whether to look first.
    retries: 0,
    async makeRequest(url, init) {
      const headers = init.headers as Record<string, string> | undefined;
      const bot = headers?.authorization?.startsWith('Bot ') || headers?.Authorization?.startsWith('Bot ');
      const gate = bot ? botGate : ipGate;
      await gate.acquire();
      try {
        return await DefaultRestOptions.makeRequest(url, init);
      } finally {
        gate.release();
      }
    },
  });
}

export function proxyHandler(rest: REST): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    // The whole body first: a stream can be read once, and a request held for the rate limit is
    // sent later, perhaps after its caller has gone.
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    // A caller that gave up (its own timeout) must not have its request sent after all: it may
    // already be trying again, and both would arrive.
    const callerGone = new AbortController();
    res.on('close', () => {
      if (!res.writableEnded) callerGone.abort();
    });
    const url = new URL(req.url ?? '/', 'http://proxy');
    const fullRoute = url.pathname.replace(/^\/api(\/v\d+)?/, '') as `/${string}`;
    const headers: Record<string, string> = {};
    if (req.headers['content-type']) headers['Content-Type'] = req.headers['content-type'];
    // The caller's token (or none, for webhook-token routes) goes through unchanged.
    if (req.headers.authorization) headers.authorization = req.headers.authorization;
    if (typeof req.headers['x-audit-log-reason'] === 'string') headers['x-audit-log-reason'] = req.headers['x-audit-log-reason'];
    try {
      const response = await rest.queueRequest({
        fullRoute,
        method: (req.method ?? 'GET') as RequestMethod,
        ...(body.length ? { body, passThroughBody: true } : {}),
        signal: callerGone.signal,
        auth: false,
        query: url.searchParams,
        headers,
      });
      res.statusCode = response.status;
      // The body is passed on as fetch gives it, unpacked: Discord's encoding and length are not its,
      // and the framing is this connection's own.
      for (const [name, value] of response.headers) if (!NOT_PASSED_ON.has(name.toLowerCase())) res.setHeader(name, value);
      if (response.body) await pipeline(response.body instanceof Readable ? response.body : Readable.fromWeb(response.body as never), res);
    } catch (err) {
      if (err instanceof DiscordAPIError || err instanceof HTTPError) {
        res.statusCode = err.status;
        if ('rawError' in err) {
          res.setHeader('Content-Type', 'application/json');
          res.write(JSON.stringify(err.rawError));
        }
      } else if (err instanceof RateLimitError) {
        res.statusCode = 429;
        res.setHeader('Retry-After', String(err.timeToReset / 1000));
      } else if (err instanceof Error && err.name === 'AbortError') {
        if (callerGone.signal.aborted) return; // nobody to answer
        res.statusCode = 504;
      } else {
        res.statusCode = 502;
      }
    } finally {
      if (!res.destroyed) res.end();
    }
  };
}
