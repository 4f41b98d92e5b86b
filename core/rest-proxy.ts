// One rate-limit authority for every worker: an HTTP proxy in front of Discord's REST API that
// sends all requests through a single @discordjs/rest instance, which sees every bucket and the
// global limit. Modelled on @discordjs/proxy, but it passes Discord's rate-limit headers back so
// workers can budget streaming edits.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DefaultRestOptions, DiscordAPIError, HTTPError, RateLimitError, REST, type RequestMethod } from '@discordjs/rest';

/**
 * Discord allows a bot 50 requests a second. @discordjs/rest counts in fixed one-second windows,
 * which can put nearly twice that into some second; this gate keeps every sliding second within
 * the limit. Only requests made with the bot's token count, as on Discord (webhook-token and
 * interaction routes have their own limits).
 */
export function createSlidingGate(perSecond: number): () => Promise<void> {
  const recent: number[] = [];
  let chain = Promise.resolve();
  return () => {
    const turn = chain.then(async () => {
      for (;;) {
        const now = performance.now();
        while (recent.length && now - recent[0]! >= 1000) recent.shift();
        if (recent.length < perSecond) {
          recent.push(now);
          return;
        }
        await new Promise((r) => setTimeout(r, 1000 - (now - recent[0]!) + 1));
      }
    });
    chain = turn;
    return turn;
  };
}

/**
 * The proxy's REST instance: its own (fixed-window) global counter is set out of the way, and
 * the sliding gate is applied at the moment each bot request really leaves.
 */
export function createProxyRest(upstream: string, botRequestsPerSecond = 50): REST {
  const gate = createSlidingGate(botRequestsPerSecond);
  return new REST({
    api: upstream,
    version: '10',
    globalRequestsPerSecond: 10_000,
    async makeRequest(url, init) {
      const headers = init.headers as Record<string, string> | undefined;
      if (headers?.authorization?.startsWith('Bot ') || headers?.Authorization?.startsWith('Bot ')) await gate();
      return DefaultRestOptions.makeRequest(url, init);
    },
  });
}

export function proxyHandler(rest: REST): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
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
        body: req,
        passThroughBody: true,
        auth: false,
        query: url.searchParams,
        headers,
      });
      res.statusCode = response.status;
      for (const [name, value] of response.headers) res.setHeader(name, value);
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
        res.statusCode = 504;
      } else {
        res.statusCode = 502;
      }
    } finally {
      res.end();
    }
  };
}
