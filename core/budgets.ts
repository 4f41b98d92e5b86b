// Daily token budgets: a server's personas together, and each persona in a server, may use so many
// tokens (in + out) per UTC day. Counted in Redis from the usage hosts report; a turn whose budget
// is spent is not sent to its model, and the channel is told once a day. The arithmetic is pure.
import type { Redis } from 'ioredis';
import type { Usage } from './hosts/clients.ts';
import type { Settings } from './settings.ts';

export type BudgetScope = 'guild' | 'persona';

/** Limits in tokens; 0 is no limit. */
export interface BudgetLimits {
  guild: number;
  persona: number;
}

/** Tokens used today: by the whole server, and by this persona in it. */
export type BudgetUse = BudgetLimits;

export type BudgetVerdict = { ok: true } | { ok: false; scope: BudgetScope; used: number; limit: number };

export function limitsOf(settings: Pick<Settings, 'guildDailyTokens' | 'personaDailyTokens'>): BudgetLimits {
  return { guild: settings.guildDailyTokens ?? 0, persona: settings.personaDailyTokens ?? 0 };
}

/** Pure: the first budget spent (the server's before the persona's), or ok. */
export function checkBudget(use: BudgetUse, limits: BudgetLimits): BudgetVerdict {
  if (limits.guild > 0 && use.guild >= limits.guild) return { ok: false, scope: 'guild', used: use.guild, limit: limits.guild };
  if (limits.persona > 0 && use.persona >= limits.persona) return { ok: false, scope: 'persona', used: use.persona, limit: limits.persona };
  return { ok: true };
}

/** Pure: what a model turn costs: every input token (cached ones too, as hosts bill them) and every output token. */
export function tokensOf(usage: Usage | null | undefined): number {
  return usage ? Math.max(0, usage.inputTokens) + Math.max(0, usage.outputTokens) : 0;
}

/** The UTC day a count belongs to (budgets start afresh at midnight UTC). */
export function dayOf(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** Whole hours (at least 1) until the next midnight UTC. */
export function hoursUntilReset(now: number): number {
  const next = new Date(now);
  next.setUTCHours(24, 0, 0, 0);
  return Math.max(1, Math.ceil((next.getTime() - now) / 3_600_000));
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** The notice the channel gets, once a day, when a budget is spent. */
export function budgetNotice(verdict: Extract<BudgetVerdict, { ok: false }>, personaName: string, now: number): string {
  const when = `after midnight UTC (in about ${hoursUntilReset(now)} h)`;
  if (verdict.scope === 'guild') {
    return `This server's daily token budget is spent (${fmt(verdict.used)} of ${fmt(verdict.limit)} tokens): personas answer again ${when}. A moderator can change it with \`/config set guildDailyTokens\` (server scope).`;
  }
  return `${personaName} has spent its daily token budget in this server (${fmt(verdict.used)} of ${fmt(verdict.limit)} tokens): it answers again ${when}. A moderator can change it with \`/config set personaDailyTokens\` (server scope).`;
}

export interface Budgets {
  /** Today's verdict for a persona in a server; no Redis read when neither budget is set. */
  check(guildId: string, personaId: string, limits: BudgetLimits, now: number): Promise<BudgetVerdict>;
  /** Counts a model turn's tokens against the server and the persona in it. */
  add(guildId: string, personaId: string, usage: Usage | null | undefined, now: number): Promise<void>;
  /** True once per channel, budget and day: the caller that gets it posts the notice. */
  firstNotice(channelId: string, verdict: Extract<BudgetVerdict, { ok: false }>, personaId: string, now: number): Promise<boolean>;
}

/** Counts live two days (today's is read; yesterday's expires on its own). */
const KEEP_SECONDS = 2 * 24 * 3600;

export function createBudgets(redis: Redis, prefix: string): Budgets {
  const guildKey = (day: string, guildId: string) => `${prefix}:tokens:${day}:${guildId}`;
  const personaKey = (day: string, guildId: string, personaId: string) => `${prefix}:tokens:${day}:${guildId}:${personaId}`;
  return {
    async check(guildId, personaId, limits, now) {
      if (limits.guild <= 0 && limits.persona <= 0) return { ok: true };
      const day = dayOf(now);
      const [g, p] = await redis.mget(guildKey(day, guildId), personaKey(day, guildId, personaId));
      return checkBudget({ guild: Number(g ?? 0), persona: Number(p ?? 0) }, limits);
    },
    async add(guildId, personaId, usage, now) {
      const tokens = tokensOf(usage);
      if (tokens === 0) return;
      const day = dayOf(now);
      // Counters, not a transaction: plain commands join the reply's other writes in one round trip.
      const [g, p] = [guildKey(day, guildId), personaKey(day, guildId, personaId)];
      await Promise.all([redis.incrby(g, tokens), redis.expire(g, KEEP_SECONDS), redis.incrby(p, tokens), redis.expire(p, KEEP_SECONDS)]);
    },
    async firstNotice(channelId, verdict, personaId, now) {
      const which = verdict.scope === 'guild' ? 'guild' : `persona:${personaId}`;
      return (await redis.set(`${prefix}:budget-told:${dayOf(now)}:${channelId}:${which}`, '1', 'EX', KEEP_SECONDS, 'NX')) === 'OK';
    },
  };
}
