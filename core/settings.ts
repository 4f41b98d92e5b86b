// Channel and guild settings: what each channel uses, and where each value came from.
// A thread inherits its parent channel; a channel its guild; a guild the configuration.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { ChangeFeed } from './changes.ts';
import type { Config } from './config.ts';

export const SettingsSchema = z.object({
  /** Persona ids present; only they answer ambient triggers (model-to-model turns, interjections). */
  roster: z.array(z.string()),
  interjectionProbability: z.number().min(0).max(1),
  chainDepth: z.int().min(0).max(10),
  cooldownSeconds: z.int().min(0).max(3600),
  repliesPerMinute: z.int().min(0).max(600),
  historyMessages: z.int().min(1).max(200),
  /**
   * Daily token budgets (see core/budgets.ts), set per server; 0 = no limit. Optional: jobs queued
   * before budgets existed carry none, and mean no limit.
   */
  guildDailyTokens: z.int().min(0).max(1e12).optional(),
  personaDailyTokens: z.int().min(0).max(1e12).optional(),
});
export type Settings = z.infer<typeof SettingsSchema>;
/** A layer sets some keys; built once (zod compiles a schema when it is first used). */
const LayerSchema = SettingsSchema.partial();
export type SettingKey = keyof Settings;
export const SETTING_KEYS = Object.keys(SettingsSchema.shape) as SettingKey[];

/** The budget settings: they count per server, so /config sets them for the whole server only. */
export const BUDGET_KEYS: readonly SettingKey[] = ['guildDailyTokens', 'personaDailyTokens'];

export type Scope = 'channel' | 'parent' | 'guild' | 'default';
export type Layer = Partial<Settings>;

export interface ResolvedSettings {
  values: Settings;
  /** Where each value was set: the channel itself, its parent (threads), the guild, or the config. */
  sources: Record<SettingKey, Scope>;
}

export function defaultSettings(config: Config, personaIds: readonly string[]): Settings {
  const roster = config.DEFAULT_ROSTER.trim() === '*' ? [...personaIds] : config.DEFAULT_ROSTER.split(',').map((s) => s.trim()).filter((id) => personaIds.includes(id));
  return {
    roster,
    interjectionProbability: config.INTERJECTION_PROBABILITY,
    chainDepth: config.CHAIN_DEPTH,
    cooldownSeconds: config.PERSONA_COOLDOWN_SECONDS,
    repliesPerMinute: config.CHANNEL_REPLIES_PER_MINUTE,
    historyMessages: config.HISTORY_MESSAGES,
    guildDailyTokens: config.GUILD_DAILY_TOKENS,
    personaDailyTokens: config.PERSONA_DAILY_TOKENS,
  };
}

/** Pure: the nearest layer that sets a key wins. */
export function resolveSettings(layers: { channel?: Layer; parent?: Layer; guild?: Layer }, defaults: Settings): ResolvedSettings {
  const values = { ...defaults };
  const sources = Object.fromEntries(SETTING_KEYS.map((k) => [k, 'default'])) as Record<SettingKey, Scope>;
  for (const scope of ['guild', 'parent', 'channel'] as const) {
    const layer = layers[scope];
    if (!layer) continue;
    for (const key of SETTING_KEYS) {
      if (layer[key] !== undefined) {
        (values as Record<SettingKey, unknown>)[key] = layer[key];
        sources[key] = scope;
      }
    }
  }
  return { values, sources };
}

/** Parses a value typed in /config into a setting, or explains what is wrong. Pure. */
export function parseSetting(key: SettingKey, raw: string, personaIds: readonly string[]): { ok: true; value: Settings[SettingKey] } | { ok: false; error: string } {
  const text = raw.trim();
  if (key === 'roster') {
    const ids = text === '' || text === '-' ? [] : text.split(/[\s,]+/).filter(Boolean);
    const unknown = ids.filter((id) => !personaIds.includes(id));
    if (unknown.length) return { ok: false, error: `unknown persona id(s): ${unknown.join(', ')}` };
    return { ok: true, value: [...new Set(ids)] };
  }
  // Budgets read well with separators: 100,000 or 100_000.
  const n = Number(BUDGET_KEYS.includes(key) ? text.replace(/[,_]/g, '') : text);
  const result = SettingsSchema.shape[key].safeParse(n);
  if (text === '' || Number.isNaN(n) || !result.success) {
    const limits: Record<Exclude<SettingKey, 'roster'>, string> = {
      interjectionProbability: 'a number from 0 to 1',
      chainDepth: 'a whole number from 0 to 10',
      cooldownSeconds: 'whole seconds from 0 to 3600',
      repliesPerMinute: 'a whole number from 0 to 600',
      historyMessages: 'a whole number from 1 to 200',
      guildDailyTokens: 'a whole number of tokens, 0 for no limit',
      personaDailyTokens: 'a whole number of tokens, 0 for no limit',
    };
    return { ok: false, error: `${key} must be ${limits[key]}` };
  }
  return { ok: true, value: result.data as Settings[SettingKey] };
}

export interface SettingsStore {
  resolve(where: { guildId?: string; channelId: string; parentId?: string }): Promise<ResolvedSettings>;
  set(scope: 'channel' | 'guild', id: string, key: SettingKey, value: Settings[SettingKey]): Promise<void>;
  unset(scope: 'channel' | 'guild', id: string, key: SettingKey): Promise<void>;
  /** A channel or thread deleted: its own settings go with it. */
  forgetChannel(channelId: string): Promise<void>;
}

/**
 * Settings in Redis. With a change feed, every change is announced, and `cached` stores answer from
 * memory until one is (the gateway resolves settings for every message).
 */
export function createSettingsStore(redis: Redis, prefix: string, defaults: Settings, feed?: ChangeFeed, cached = false): SettingsStore {
  const key = (scope: 'channel' | 'guild', id: string) => `${prefix}:settings:${scope}:${id}`;
  const read = async (scope: 'channel' | 'guild', id: string | undefined): Promise<Layer | undefined> => {
    if (!id) return undefined;
    const raw = await redis.hgetall(key(scope, id));
    const layer: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) if ((SETTING_KEYS as string[]).includes(k)) layer[k] = JSON.parse(v);
    return LayerSchema.parse(layer);
  };
  const resolveFresh = async ({ guildId, channelId, parentId }: { guildId?: string; channelId: string; parentId?: string }) => {
    const [channel, parent, guild] = await Promise.all([read('channel', channelId), read('channel', parentId), read('guild', guildId)]);
    return resolveSettings({ ...(channel ? { channel } : {}), ...(parent ? { parent } : {}), ...(guild ? { guild } : {}) }, defaults);
  };
  const cache = cached && feed ? feed.cache<ResolvedSettings>('settings') : undefined;
  return {
    resolve: (where) => (cache ? cache.get(`${where.guildId ?? ''}/${where.parentId ?? ''}/${where.channelId}`, () => resolveFresh(where)) : resolveFresh(where)),
    async set(scope, id, k, value) {
      await redis.hset(key(scope, id), k, JSON.stringify(value));
      cache?.drop();
      await feed?.changed('settings');
    },
    async unset(scope, id, k) {
      await redis.hdel(key(scope, id), k);
      cache?.drop();
      await feed?.changed('settings');
    },
    async forgetChannel(channelId) {
      // (Nothing announced: no one asks for a deleted channel's settings again.)
      await redis.del(key('channel', channelId));
    },
  };
}
