// Host health: a cheap periodic check of every model host that has its key, kept in Redis so every
// process sees it — /personas says which host serves each persona now, and fallback skips hosts
// known to be down (core/hosts/fallback.ts). One process checks each host per interval, whoever
// claims it first; any process may run the checks (workers do).
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { hostLabel, isHostUsable, keyEnvOf, type Host, type Persona } from '../personas/schema.ts';
import type { HostHealthView } from './hosts/fallback.ts';
import { describeError, type Logger } from './log.ts';

export interface HostHealth {
  label: string;
  up: boolean;
  /** Failed checks in a row (0 once one succeeds). */
  failures: number;
  /** When this was learned (ms since the epoch). */
  checkedAt: number;
  /** After this, nobody is checking any more: the record says nothing (ms since the epoch). */
  staleAt: number;
  /** The last check's HTTP status, when it got one. */
  status?: number;
  /** The last check's outcome in a few words. */
  reason: string;
}

export interface ProbeResult {
  ok: boolean;
  status?: number;
  reason: string;
}

/** Failed checks in a row before a host counts as down: one lost packet does not move traffic. */
export const FAILURES_TO_DOWN = 2;

/**
 * Hosts are the same host when they share an endpoint and a key (two personas on Anthropic's API
 * share one record). The id never contains the key itself, only the name of its variable.
 */
export function hostId(host: Host): string {
  const endpoint = host.baseUrl ?? (host.provider === 'anthropic' ? 'https://api.anthropic.com' : 'https://api.openai.com/v1');
  const kind = host.provider === 'anthropic' ? 'anthropic' : 'openai';
  return createHash('sha256').update(`${kind} ${endpoint} ${keyEnvOf(host) ?? 'none'}`).digest('hex').slice(0, 16);
}

/**
 * Pure: what an answer to a check means. The check asks for the host's model list, which needs a
 * good key: a 2xx is up (unless it is a web page); 401/403 (the key refused) and 5xx, 529 or no answer are down; 429 is up (the
 * host answers, it is only busy); 404/405 are up too (a compatible server that does not list models
 * still answered).
 */
export function judgeProbe(status: number | undefined, error?: string, contentType?: string | null): ProbeResult {
  if (status === undefined) return { ok: false, reason: error && /time|abort/i.test(error) ? 'timed out' : 'unreachable' };
  // A web page is no API's answer (a base URL that names a web UI): its model calls fail the same way.
  if (status >= 200 && status < 300 && contentType && /text\/html/i.test(contentType)) return { ok: false, status, reason: 'answered with a web page' };
  if (status >= 200 && status < 300) return { ok: true, status, reason: 'answered' };
  if (status === 401 || status === 403) return { ok: false, status, reason: 'refused the key' };
  if (status === 429) return { ok: true, status, reason: 'rate-limiting' };
  if (status === 404 || status === 405) return { ok: true, status, reason: 'answered (no model list)' };
  if (status >= 500) return { ok: false, status, reason: status === 529 || status === 503 ? 'overloaded' : 'failing' };
  return { ok: true, status, reason: `answered ${status}` };
}

/** Pure: the record after a check. Down after FAILURES_TO_DOWN failures in a row; up after one success. */
export function nextHealth(prev: HostHealth | undefined, probe: ProbeResult, label: string, now: number, intervalMs: number): HostHealth {
  const failures = probe.ok ? 0 : (prev?.failures ?? 0) + 1;
  return {
    label,
    up: failures < FAILURES_TO_DOWN,
    failures,
    checkedAt: now,
    // Three missed checks and the record no longer counts (the checkers stopped).
    staleAt: now + 3 * intervalMs,
    ...(probe.status === undefined ? {} : { status: probe.status }),
    reason: probe.reason,
  };
}

/** Pure: a fresh record says the host is down. */
export function isKnownDown(h: HostHealth | undefined, now: number): boolean {
  return h !== undefined && !h.up && now < h.staleAt;
}

/** The request a check sends, as each API documents its model list; undefined when the key is unset. */
export function probeRequest(host: Host, env: Record<string, string | undefined>): { url: string; headers: Record<string, string> } | undefined {
  if (!isHostUsable(host, env)) return undefined;
  const keyEnv = keyEnvOf(host);
  const key = keyEnv ? env[keyEnv] : undefined;
  if (host.provider === 'anthropic') {
    const base = (host.baseUrl ?? 'https://api.anthropic.com').replace(/\/+$/, '');
    return { url: `${base}/v1/models?limit=1`, headers: { 'anthropic-version': '2023-06-01', ...(key ? { 'x-api-key': key } : {}) } };
  }
  const base = (host.baseUrl ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  return { url: `${base}/models`, headers: key ? { authorization: `Bearer ${key}` } : {} };
}

export async function probeHost(host: Host, env: Record<string, string | undefined>, timeoutMs: number, fetchFn: typeof fetch = fetch, stop?: AbortSignal): Promise<ProbeResult> {
  const req = probeRequest(host, env);
  if (!req) return { ok: false, reason: 'no API key configured' };
  try {
    const timeout = AbortSignal.timeout(timeoutMs);
    const res = await fetchFn(req.url, { headers: req.headers, signal: stop ? AbortSignal.any([timeout, stop]) : timeout });
    await res.body?.cancel(); // only the status matters (OpenRouter's list is large)
    return judgeProbe(res.status, undefined, res.headers.get('content-type'));
  } catch (err) {
    return judgeProbe(undefined, describeError(err).message);
  }
}

export interface HealthStore extends HostHealthView {
  /** Every host's record, by hostId. */
  all(): Promise<Map<string, HostHealth>>;
  get(id: string): Promise<HostHealth | undefined>;
  put(id: string, health: HostHealth): Promise<void>;
  /** True for the one process that may check this host now (until `ms` have passed). */
  claim(id: string, ms: number): Promise<boolean>;
}

/**
 * `intervalMs`: the checks' interval, for how long a failure a request reports counts (as long as a
 * failed check's: three intervals).
 */
export function createHealthStore(redis: Redis, prefix: string, now: () => number = Date.now, intervalMs = 60_000): HealthStore {
  const key = `${prefix}:host-health`;
  const parse = (raw: string | null | undefined): HostHealth | undefined => (raw ? (JSON.parse(raw) as HostHealth) : undefined);
  /** Model calls that failed in a row, by host (an answer starts the count again). */
  const failuresKey = `${key}:request-failures`;
  return {
    async all() {
      const raw = await redis.hgetall(key);
      return new Map(Object.entries(raw).flatMap(([id, v]) => (v ? [[id, parse(v)!] as const] : [])));
    },
    async get(id) {
      return parse(await redis.hget(key, id));
    },
    async down(hosts) {
      if (hosts.length === 0) return [];
      const raw = await redis.hmget(key, ...hosts.map(hostId));
      const at = now();
      return raw.map((v) => isKnownDown(parse(v), at));
    },
    async answered(host) {
      const id = hostId(host);
      const prev = parse(await redis.hget(key, id));
      if (!prev || prev.up) return;
      await redis.hset(key, id, JSON.stringify({ ...prev, up: true, failures: 0, checkedAt: now(), reason: 'answered a request' } satisfies HostHealth));
    },
    async failed(host, reason) {
      // Counted apart from the checks, and only while they run (they are what says a host is back).
      if (intervalMs <= 0) return;
      const id = hostId(host);
      const inARow = await redis.hincrby(failuresKey, id, 1);
      if (inARow < FAILURES_TO_DOWN) return;
      const at = now();
      await Promise.all([
        redis.hset(key, id, JSON.stringify({ label: hostLabel(host), up: false, failures: inARow, checkedAt: at, staleAt: at + 3 * intervalMs, reason: `its requests failed: ${reason}` } satisfies HostHealth)),
        redis.hdel(failuresKey, id),
      ]);
    },
    async succeeded(host) {
      await redis.hdel(failuresKey, hostId(host));
    },
    async put(id, health) {
      await redis.hset(key, id, JSON.stringify(health));
    },
    async claim(id, ms) {
      return (await redis.set(`${key}:claim:${id}`, '1', 'PX', Math.max(1, ms), 'NX')) === 'OK';
    },
  };
}

/** The distinct hosts of the personas that have their key (a host without one is never checked). */
export function hostsToCheck(personas: readonly Persona[], env: Record<string, string | undefined>): Host[] {
  const seen = new Map<string, Host>();
  for (const p of personas) for (const h of p.hosts) if (isHostUsable(h, env) && !seen.has(hostId(h))) seen.set(hostId(h), h);
  return [...seen.values()];
}

export interface HealthCheckOptions {
  hosts: readonly Host[];
  env: Record<string, string | undefined>;
  store: HealthStore;
  intervalMs: number;
  timeoutMs: number;
  log: Logger;
  fetchFn?: typeof fetch;
  /** Told of every check this process made (tests, metrics). */
  onChecked?: (host: Host, health: HostHealth) => void;
}

/** Checks every host now and then every interval; stop() cuts short the checks under way. */
export function startHealthChecks(o: HealthCheckOptions): { firstRound: Promise<void>; stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const stopping = new AbortController();
  let round: Promise<void> = Promise.resolve();
  const checkOne = async (host: Host) => {
    const id = hostId(host);
    // Claimed for a little less than the interval, so the next round's claim is free again.
    if (!(await o.store.claim(id, Math.floor(o.intervalMs * 0.9)))) return;
    const probe = await probeHost(host, o.env, o.timeoutMs, o.fetchFn, stopping.signal);
    if (stopping.signal.aborted) return; // cut short by stop(): says nothing about the host
    const prev = await o.store.get(id);
    const health = nextHealth(prev, probe, hostLabel(host), Date.now(), o.intervalMs);
    await o.store.put(id, health);
    if (prev?.up !== false && !health.up) o.log.warn({ host: health.label, reason: health.reason, status: health.status }, 'model host is down: fallback skips it');
    if (prev?.up === false && health.up) o.log.info({ host: health.label }, 'model host is back');
    o.onChecked?.(host, health);
  };
  const tick = () => {
    round = Promise.all(o.hosts.map((h) => checkOne(h).catch((err: unknown) => o.log.warn({ host: hostLabel(h), err: describeError(err) }, 'health check failed to run')))).then(() => {
      if (!stopped) timer = setTimeout(tick, o.intervalMs).unref();
    });
  };
  if (o.intervalMs > 0 && o.hosts.length) tick();
  const firstRound = round;
  return {
    firstRound,
    async stop() {
      stopped = true;
      stopping.abort();
      clearTimeout(timer);
      await round;
    },
  };
}
