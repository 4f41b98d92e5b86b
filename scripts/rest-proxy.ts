// The Discord REST proxy process: `npm run start:rest-proxy`. Point every worker's (and the
// gateway's) DISCORD_API_URL at it, so all of them share one view of Discord's rate limits.
import { createServer } from 'node:http';
import { z } from 'zod';
import { startAdminServer } from '../core/admin-server.ts';
import { ConfigSchema, setVariables } from '../core/config.ts';
import { createRegistry, observeRest } from '../core/metrics.ts';
import { createProxyRest, DEFAULT_BOT_REQUESTS_PER_SECOND, proxyHandler } from '../core/rest-proxy.ts';
import { createLogger, describeError } from '../core/log.ts';
import { loadDotEnv, stop } from '../core/startup.ts';
import { describeIssues } from '../core/yaml-file.ts';

loadDotEnv();
const parsed = z
  .object({
    /** Where the proxy forwards to: Discord itself, unless you chain proxies. */
    DISCORD_UPSTREAM_URL: z.url().default('https://discord.com/api'),
    REST_PROXY_PORT: z.coerce.number().int().positive().default(8080),
    /** Bot-token requests Discord may receive in any second (its global limit is 50). */
    BOT_REQUESTS_PER_SECOND: z.coerce.number().int().min(1).max(50).default(DEFAULT_BOT_REQUESTS_PER_SECOND),
    LOG_LEVEL: ConfigSchema.shape.LOG_LEVEL,
    /** The proxy's admin port (/metrics); 0 picks a free one. */
    REST_PROXY_ADMIN_PORT: z.coerce.number().int().min(0).max(65_535).default(9466),
  })
  .extend(ConfigSchema.pick({ ADMIN_TOKEN: true, ADMIN_HOST: true }).shape)
  .safeParse(setVariables(process.env));
if (!parsed.success) stop('rest-proxy', `invalid configuration:\n${describeIssues(parsed.error)}`);
const env = parsed.data;
const log = createLogger('rest-proxy', env.LOG_LEVEL);
// No token here: each request carries its own; the REST instance only schedules them.
const rest = createProxyRest(env.DISCORD_UPSTREAM_URL, env.BOT_REQUESTS_PER_SECOND);
rest.on('rateLimited', (info) => log.info({ route: info.route, global: info.global, retryAfter: info.retryAfter }, 'rate limited: requests wait'));
const registry = createRegistry('rest-proxy', { processMetrics: Boolean(env.ADMIN_TOKEN) });
observeRest(rest, registry);
const admin = startAdminServer({ token: env.ADMIN_TOKEN, host: env.ADMIN_HOST, port: env.REST_PROXY_ADMIN_PORT, portVariable: 'REST_PROXY_ADMIN_PORT', registry, log });
const handle = proxyHandler(rest);
const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => log.error({ err: describeError(err) }, 'proxy failure'));
});
server.listen(env.REST_PROXY_PORT, () => log.info({ port: env.REST_PROXY_PORT, upstream: env.DISCORD_UPSTREAM_URL }, 'rest proxy ready'));
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void admin.then((a) => a?.close()).finally(() => server.close(() => process.exit(0))));
