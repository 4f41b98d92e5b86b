// Prometheus metrics (prom-client): one registry per process, made by its wiring and passed to what
// counts — no global registry. Labels are bounded: persona ids, host labels and Discord routes come
// from files and from @discordjs/rest's route (which hides ids); never a message, channel or user id.
import { RESTEvents, type APIRequest, type REST, type RateLimitData, type ResponseLike } from './discord-rest.ts';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OverflowReason } from './discord.ts';
import type { HealthStore } from './health.ts';
import { failureClass, type HostEvent } from './hosts/fallback.ts';
import type { SessionRow } from './transcript/store.ts';

export type ProcessKind = 'gateway' | 'worker' | 'rest-proxy';

/** A process's registry, labelled with the process kind; Node's process metrics included. */
export function createRegistry(kind: ProcessKind, opts: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ process: kind });
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/** @discordjs/rest's route already hides snowflakes and tokens; any other number is hidden too. */
export function routeLabel(route: string): string {
  return route.replace(/\/\d+(?=\/|$)/g, '/:id').slice(0, 100);
}

/** Counts every Discord REST answer by route and status, 429s apart, and the library's own waits. */
export function observeRest(rest: REST, registry: Registry): void {
  const calls = new Counter({ name: 'chorus_discord_rest_requests_total', help: 'Discord REST answers, by method, route and HTTP status', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const limited = new Counter({ name: 'chorus_discord_rest_429_total', help: 'Discord REST answers with status 429, by method, route and X-RateLimit-Scope', labelNames: ['method', 'route', 'scope'], registers: [registry] });
  const waits = new Counter({ name: 'chorus_discord_rate_limit_waits_total', help: 'Requests @discordjs/rest held back for a rate limit before sending', labelNames: ['route', 'global'], registers: [registry] });
  rest.on(RESTEvents.Response, (request: APIRequest, response: ResponseLike) => {
    const labels = { method: request.method.toUpperCase(), route: routeLabel(request.route) };
    calls.inc({ ...labels, status: String(response.status) });
    if (response.status === 429) limited.inc({ ...labels, scope: response.headers.get('x-ratelimit-scope') ?? 'unknown' });
  });
  rest.on(RESTEvents.RateLimited, (info: RateLimitData) => waits.inc({ route: routeLabel(info.route), global: String(info.global) }));
}

export interface GatewayMetrics {
  /** A message was handled; `answering` personas will answer it. */
  routed(answering: number): void;
  /** A command reached chorus `ageMs` after it was given (Discord wants an answer within 3 s). */
  commandAge(ageMs: number): void;
}

export interface GatewaySources {
  /** Interview sessions, read at scrape time (at most every 30 s). */
  sessions?: () => Promise<SessionRow[]>;
  /** Host health as the checks left it in Redis, read at scrape time. */
  health?: HealthStore;
  /** How many records wait in Redis for the record store (see core/transcript/outbox.ts), read at scrape time. */
  recordsWaiting?: () => Promise<number>;
}

export function gatewayMetrics(registry: Registry, sources: GatewaySources = {}): GatewayMetrics {
  const messages = new Counter({ name: 'chorus_messages_routed_total', help: 'Messages the gateway routed, by whether any persona answers', labelNames: ['answered'], registers: [registry] });
  const queued = new Counter({ name: 'chorus_turns_queued_total', help: 'Persona turns queued by the gateway (one per persona answering a message)', registers: [registry] });
  let sessionCounts: { at: number; counts: Promise<Map<string, number>> } | undefined;
  if (sources.sessions) {
    const read = sources.sessions;
    new Gauge({
      name: 'chorus_interview_sessions',
      help: 'Interview sessions in the record store, by status',
      labelNames: ['status'],
      registers: [registry],
      async collect() {
        if (!sessionCounts || Date.now() - sessionCounts.at > 30_000) {
          const counts = read().then((rows) => {
            const by = new Map<string, number>([['running', 0], ['paused', 0], ['ended', 0]]);
            for (const r of rows) by.set(r.status, (by.get(r.status) ?? 0) + 1);
            return by;
          });
          counts.catch(() => (sessionCounts = undefined));
          sessionCounts = { at: Date.now(), counts };
        }
        const counts = await sessionCounts.counts.catch(() => new Map<string, number>());
        for (const [status, n] of counts) this.set({ status }, n);
      },
    });
  }
  if (sources.recordsWaiting) {
    const waiting = sources.recordsWaiting;
    new Gauge({
      name: 'chorus_records_waiting',
      help: 'Records of recorded channels waiting in Redis to be written to the record store (grows while it is away)',
      registers: [registry],
      async collect() {
        this.set(await waiting().catch(() => 0));
      },
    });
  }
  if (sources.health) {
    const health = sources.health;
    new Gauge({
      name: 'chorus_host_up',
      help: 'Model hosts by their latest health check (1 up, 0 down); hosts nobody checks lately are left out',
      labelNames: ['host'],
      registers: [registry],
      async collect() {
        this.reset();
        const now = Date.now();
        for (const h of (await health.all().catch(() => new Map())).values()) if (now < h.staleAt) this.set({ host: h.label }, h.up ? 1 : 0);
      },
    });
  }
  const commandAge = new Histogram({
    name: 'chorus_command_age_seconds',
    help: 'How old a slash command was when the gateway read it (Discord wants an answer within 3 s: a gateway behind a burst of messages reads it late)',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10],
    registers: [registry],
  });
  return {
    routed(answering) {
      messages.inc({ answered: answering > 0 ? 'yes' : 'no' });
      if (answering > 0) queued.inc(answering);
    },
    commandAge(ageMs) {
      commandAge.observe(Math.max(0, ageMs) / 1000);
    },
  };
}

/** What a finished turn says about time, for the latency histograms. */
export interface TurnTiming {
  /** When the gateway received the message (or the retry or follow-up was queued). */
  receivedAt: number;
  /** The job's first turn: its timings are chorus's own; later turns wait for earlier answers. */
  first: boolean;
  /** When the model request was made (absent when no model was asked in this attempt). */
  requestedAt?: number;
  /** When the answer's first text was visible in the channel. */
  visibleAt?: number;
}

export interface WorkerMetrics {
  /** Every host answer, failure and pass-over (core/hosts/fallback.ts's observer). */
  observeHost(event: HostEvent): void;
  /** A finished turn: posted, notice, retry, over-budget, … */
  turn(state: string, timing: TurnTiming): void;
  /** Turns let go because their job failed for good. */
  failed(turns: number): void;
  /** A health check this process made. */
  checked(host: string, up: boolean): void;
  /** A persona's post the bot made itself, the channel's webhooks held by Discord (see core/discord.ts's overflow). */
  postedByBot(reason: OverflowReason): void;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const VISIBLE_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120];

export function workerMetrics(registry: Registry): WorkerMetrics {
  const registers = [registry];
  const turns = new Counter({ name: 'chorus_turns_total', help: 'Reply turns finished, by state (posted, notice, retry, failed, over-budget, …)', labelNames: ['state'], registers });
  const replies = new Counter({ name: 'chorus_replies_total', help: 'Model answers, by persona and the host that gave them', labelNames: ['persona', 'host'], registers });
  const fallbacks = new Counter({ name: 'chorus_fallbacks_total', help: "Answers given by a host other than the persona's first, by persona and host", labelNames: ['persona', 'host'], registers });
  const hostErrors = new Counter({ name: 'chorus_host_errors_total', help: 'Failed model requests, by host and class', labelNames: ['host', 'class'], registers });
  const skipped = new Counter({ name: 'chorus_hosts_skipped_total', help: 'Hosts passed over without a request, by host and reason (no-key, down)', labelNames: ['host', 'reason'], registers });
  const tokens = new Counter({ name: 'chorus_tokens_total', help: 'Tokens by persona and kind (input counts cached tokens too; cache_read and cache_write are the parts of it the host cached)', labelNames: ['persona', 'kind'], registers });
  const added = new Histogram({ name: 'chorus_added_latency_seconds', help: "Time from the gateway receiving a message to the model request of its job's first turn", buckets: LATENCY_BUCKETS, registers });
  const visible = new Histogram({ name: 'chorus_time_to_first_visible_seconds', help: "Time from the gateway receiving a message to the answer's first visible text, by turn position in the job", labelNames: ['position'], buckets: VISIBLE_BUCKETS, registers });
  const checks = new Counter({ name: 'chorus_host_checks_total', help: 'Host health checks made by this process, by host and result', labelNames: ['host', 'result'], registers });
  const byBot = new Counter({
    name: 'chorus_persona_posts_by_bot_total',
    help: "Persona posts the bot made itself, under the persona's name, because Discord held the channel's webhooks: reason held (the gate knew) or refused (Discord answered the webhook post 429 shared; that 429 is counted here, not in chorus_discord_rest_429_total)",
    labelNames: ['reason'],
    registers,
  });
  return {
    postedByBot: (reason) => byBot.inc({ reason }),
    observeHost(e) {
      if (e.kind === 'answered') {
        replies.inc({ persona: e.personaId, host: e.host });
        if (e.hostIndex > 0) fallbacks.inc({ persona: e.personaId, host: e.host });
        const u = e.usage;
        if (u) {
          tokens.inc({ persona: e.personaId, kind: 'input' }, u.inputTokens);
          tokens.inc({ persona: e.personaId, kind: 'output' }, u.outputTokens);
          if (u.cacheReadTokens) tokens.inc({ persona: e.personaId, kind: 'cache_read' }, u.cacheReadTokens);
          if (u.cacheWriteTokens) tokens.inc({ persona: e.personaId, kind: 'cache_write' }, u.cacheWriteTokens);
        }
      } else if (e.kind === 'failed') {
        hostErrors.inc({ host: e.attempt.host, class: failureClass(e.attempt) });
      } else {
        skipped.inc({ host: e.attempt.host, reason: /key/.test(e.attempt.reason) ? 'no-key' : 'down' });
      }
    },
    turn(state, t) {
      turns.inc({ state });
      if (t.first && t.requestedAt !== undefined) added.observe(Math.max(0, t.requestedAt - t.receivedAt) / 1000);
      if (t.visibleAt !== undefined) visible.observe({ position: t.first ? 'first' : 'later' }, Math.max(0, t.visibleAt - t.receivedAt) / 1000);
    },
    failed(n) {
      if (n > 0) turns.inc({ state: 'failed' }, n);
    },
    checked(host, up) {
      checks.inc({ host, result: up ? 'up' : 'down' });
    },
  };
}
