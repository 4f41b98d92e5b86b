// Prompt-cache simulation for the model host stand-in, after the providers' documents:
// - Anthropic (platform.claude.com/docs/en/build-with-claude/prompt-caching): explicit
//   cache_control breakpoints on blocks of tools, system and messages (in that order), at
//   most 4; each caches the exact prefix up to and including its block; a hit is looked
//   for at the breakpoint and up to 20 block boundaries back; prefixes shorter than the
//   model's minimum are never cached; 5 minute TTL (or 1 hour) refreshed on every hit;
//   usage.input_tokens counts only the tokens after the last breakpoint.
// - OpenAI (platform.openai.com/docs/guides/prompt-caching): automatic for prompts of
//   1024 tokens or more, exact prefix, hits in 128-token steps (1024, 1152, ...),
//   dropped after 5-10 minutes of inactivity (5 here).
// Token counts use the stand-in's rough estimate (~4 characters a token).
import { createHash } from 'node:crypto';

export type ModelApi = 'anthropic' | 'chat' | 'completions';

export interface CacheTotals {
  /** Successful requests seen (errors and dropped connections never reach the cache). */
  requests: number;
  /** Requests that read some tokens from the cache. */
  reads: number;
  /** Requests that wrote some tokens to the cache. */
  writes: number;
  readTokens: number;
  /** Anthropic: cache_creation_input_tokens. OpenAI: prefix tokens newly cached (free there, so never reported). */
  writeTokens: number;
  /** Input tokens neither read from nor written to the cache. */
  uncachedInputTokens: number;
}

export type CacheStats = Record<ModelApi, CacheTotals>;

export interface CacheOptions {
  /** false: nothing is cached (breakpoints are still validated). Default true. */
  enabled?: boolean;
  /** Anthropic minimum cacheable prefix in tokens, or one per model (Haiku-class: 2048). Default 1024. */
  minTokens?: number | ((model: string) => number);
  /** Clock for TTLs, so tests can step time instead of sleeping. Default Date.now. */
  now?: () => number;
}

/** What a request's input tokens came to, in the API's own terms. */
export interface CacheOutcome {
  /** Anthropic: input_tokens (after the last breakpoint). OpenAI: prompt_tokens (all of them). */
  input: number;
  /** Anthropic cache_read_input_tokens; OpenAI prompt_tokens_details.cached_tokens. */
  read: number;
  write5m: number;
  write1h: number;
}

/** A checked request, to be committed to the cache once its answer starts (as the APIs do). */
export type CachePlan =
  | { api: 'anthropic'; model: string; total: number; keys: string[]; tokens: number[]; breakpoints: Breakpoint[] }
  | { api: 'chat' | 'completions'; model: string; total: number; prompt: string };

interface Breakpoint {
  unit: number;
  ttlMs: number;
}

interface Entry {
  expiresAt: number;
  ttlMs: number;
}

const MINUTE = 60_000;
const TTL_MS: Record<string, number> = { '5m': 5 * MINUTE, '1h': 60 * MINUTE };
const MAX_BREAKPOINTS = 4;
const LOOKBACK_BLOCKS = 20;
const OPENAI_MIN = 1024;
const OPENAI_STEP = 128;
const OPENAI_TTL_MS = 5 * MINUTE;

/** The stand-in's rough token count: ~4 characters of the JSON a token. */
export function estimateTokens(value: unknown): number {
  return Math.max(1, Math.ceil(JSON.stringify(value ?? '').length / 4));
}

/** The text whose length the input estimate measures; tools only when sent, so old numbers hold. */
function promptValue(body: Record<string, unknown>): unknown[] {
  const prompt = body['messages'] ?? body['prompt'];
  return body['tools'] === undefined ? [body['system'], prompt] : [body['tools'], body['system'], prompt];
}

export function estimateInput(body: Record<string, unknown>): number {
  return estimateTokens(promptValue(body));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function withoutCacheControl(block: unknown): unknown {
  if (!isRecord(block) || !('cache_control' in block)) return block;
  const { cache_control: _, ...rest } = block;
  return rest;
}

function hash(previous: string, text: string): string {
  return createHash('sha256').update(previous).update('\n').update(text).digest('base64url');
}

function emptyTotals(): CacheTotals {
  return { requests: 0, reads: 0, writes: 0, readTokens: 0, writeTokens: 0, uncachedInputTokens: 0 };
}

export interface PromptCache {
  /** A 400 message when the request breaks a caching rule the API enforces, else a plan. */
  plan(api: ModelApi, body: Record<string, unknown>): CachePlan | { error: string };
  /** Reads and writes the cache for a request whose answer is starting. */
  commit(plan: CachePlan): CacheOutcome;
  stats(): CacheStats;
  resetStats(): void;
  clear(): void;
}

export function createPromptCache(opts: CacheOptions = {}): PromptCache {
  const now = opts.now ?? Date.now;
  const enabled = opts.enabled ?? true;
  const minTokens = (model: string) => (typeof opts.minTokens === 'function' ? opts.minTokens(model) : (opts.minTokens ?? 1024));
  // Anthropic and OpenAI caches are separate per API: key -> entry.
  const entries: Record<'anthropic' | 'chat', Map<string, Entry>> = { anthropic: new Map(), chat: new Map() };
  let totals: CacheStats = { anthropic: emptyTotals(), chat: emptyTotals(), completions: emptyTotals() };
  let commits = 0;

  const live = (map: Map<string, Entry>, key: string, at: number): Entry | undefined => {
    const entry = map.get(key);
    return entry && entry.expiresAt > at ? entry : undefined;
  };
  const store = (map: Map<string, Entry>, key: string, ttlMs: number, at: number) => {
    const old = live(map, key, at);
    // A hit refreshes an entry for its own TTL; a shorter write never cuts a longer one.
    const keep = Math.max(old?.ttlMs ?? 0, ttlMs);
    map.set(key, { ttlMs: keep, expiresAt: at + keep });
  };
  const sweep = (at: number) => {
    if (++commits % 64) return;
    for (const map of Object.values(entries)) for (const [k, e] of map) if (e.expiresAt <= at) map.delete(k);
  };
  const count = (api: ModelApi, read: number, write: number, uncached: number) => {
    const t = totals[api];
    t.requests++;
    if (read > 0) t.reads++;
    if (write > 0) t.writes++;
    t.readTokens += read;
    t.writeTokens += write;
    t.uncachedInputTokens += uncached;
  };

  const planAnthropic = (body: Record<string, unknown>, model: string): CachePlan | { error: string } => {
    // Units are the blocks in the order the API renders them; each key hashes everything
    // up to and including its block (keys are cumulative), and tokens count to its end.
    const keys: string[] = [];
    const tokens: number[] = [];
    const marks: Array<{ unit: number; cc: unknown; path: string }> = [];
    let key = model;
    let chars = 0;
    const add = (path: string, tag: unknown, block: unknown) => {
      const bare = withoutCacheControl(block);
      key = hash(key, JSON.stringify([tag, bare]));
      chars += JSON.stringify(bare ?? '').length;
      keys.push(key);
      tokens.push(Math.ceil(chars / 4));
      if (isRecord(block) && block['cache_control'] != null) marks.push({ unit: keys.length - 1, cc: block['cache_control'], path });
    };
    const tools = body['tools'];
    if (Array.isArray(tools)) tools.forEach((t, i) => add(`tools.${i}`, 'tool', t));
    const system = body['system'];
    // A string is shorthand for one text block (Messages API): both render, and cache, the same.
    const text = (t: string) => ({ type: 'text', text: t });
    if (typeof system === 'string') add('system', 'system', text(system));
    else if (Array.isArray(system)) system.forEach((b, i) => add(`system.${i}`, 'system', b));
    const messages = body['messages'];
    if (Array.isArray(messages)) {
      // tool_choice and thinking settings are part of the messages cache, not of tools/system.
      const settings = JSON.stringify([body['tool_choice'] ?? null, body['thinking'] ?? null]);
      messages.forEach((m, i) => {
        if (!isRecord(m)) return;
        const tag = (j: number) => (i === 0 && j === 0 ? [i, m['role'], settings] : [i, m['role']]);
        const content = m['content'];
        if (Array.isArray(content)) content.forEach((b, j) => add(`messages.${i}.content.${j}`, tag(j), b));
        else add(`messages.${i}.content`, tag(0), typeof content === 'string' ? text(content) : content);
      });
    }
    // Top-level cache_control puts a breakpoint on the last cacheable block (automatic caching).
    const auto = body['cache_control'];
    const last = keys.length - 1;
    if (auto != null && last >= 0 && !marks.some((b) => b.unit === last)) marks.push({ unit: last, cc: auto, path: 'cache_control' });

    if (marks.length > MAX_BREAKPOINTS) return { error: `A maximum of ${MAX_BREAKPOINTS} blocks with cache_control may be provided. Found ${marks.length}.` };
    const breakpoints: Breakpoint[] = [];
    let sawShort = false;
    for (const mark of marks) {
      const cc = isRecord(mark.cc) ? mark.cc : {};
      if (cc['type'] !== 'ephemeral') return { error: `${mark.path}.cache_control.type: Input should be 'ephemeral'` };
      const ttl = cc['ttl'] ?? '5m';
      const ttlMs = typeof ttl === 'string' ? TTL_MS[ttl] : undefined;
      if (ttlMs === undefined) return { error: `${mark.path}.cache_control.ttl: Input should be '5m' or '1h'` };
      if (ttlMs === TTL_MS['1h'] && sawShort) {
        return {
          error:
            "A ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. " +
            'Note that blocks are processed in the following order: `tools`, `system`, `messages`.',
        };
      }
      if (ttlMs === TTL_MS['5m']) sawShort = true;
      breakpoints.push({ unit: mark.unit, ttlMs });
    }
    breakpoints.sort((a, b) => a.unit - b.unit);
    return { api: 'anthropic', model, total: estimateInput(body), keys, tokens, breakpoints };
  };

  const commitAnthropic = (plan: Extract<CachePlan, { api: 'anthropic' }>): CacheOutcome => {
    const at = now();
    const map = entries.anthropic;
    const tokensAt = (unit: number) => Math.min(plan.total, plan.tokens[unit] ?? 0);
    const min = minTokens(plan.model);
    // Prefixes under the minimum are processed without caching, as if unmarked.
    const usable = enabled ? plan.breakpoints.filter((b) => tokensAt(b.unit) >= min) : [];
    // A: the longest live prefix found looking back from each breakpoint.
    let hitUnit = -1;
    for (const b of usable) {
      for (let u = b.unit; u >= 0 && u > b.unit - LOOKBACK_BLOCKS; u--) {
        if (live(map, plan.keys[u] ?? '', at)) {
          if (u > hitUnit) hitUnit = u;
          break;
        }
      }
    }
    const a = hitUnit >= 0 ? tokensAt(hitUnit) : 0;
    const lastBreakpoint = usable.at(-1);
    const c = lastBreakpoint ? tokensAt(lastBreakpoint.unit) : 0;
    // B: the last 1-hour breakpoint past A; (A, B] is billed as 1h writes, (B, C] as 5m writes.
    const longAfterHit = usable.filter((bp) => bp.ttlMs === TTL_MS['1h'] && tokensAt(bp.unit) > a).at(-1);
    const b = longAfterHit ? tokensAt(longAfterHit.unit) : a;
    const outcome: CacheOutcome = { input: plan.total - c, read: a, write1h: Math.max(0, b - a), write5m: Math.max(0, c - Math.max(a, b)) };

    const hitKey = plan.keys[hitUnit];
    if (hitKey !== undefined) store(map, hitKey, 0, at); // refresh
    for (const bp of usable) store(map, plan.keys[bp.unit] ?? '', bp.ttlMs, at);
    sweep(at);
    count('anthropic', outcome.read, outcome.write5m + outcome.write1h, outcome.input);
    return outcome;
  };

  const commitChat = (plan: Extract<CachePlan, { api: 'chat' | 'completions' }>): CacheOutcome => {
    const at = now();
    const total = plan.total;
    // Legacy completions models predate prompt caching (gpt-4o and newer only).
    if (plan.api === 'completions' || !enabled || total < OPENAI_MIN) {
      count(plan.api, 0, 0, total);
      return { input: total, read: 0, write5m: 0, write1h: 0 };
    }
    const map = entries.chat;
    // One entry per 128-token step of the prompt, each hashing the exact prefix up to it.
    const hasher = createHash('sha256').update(plan.model).update('\n');
    const steps: string[] = [];
    let fed = 0;
    for (let t = OPENAI_MIN; t * 4 <= plan.prompt.length; t += OPENAI_STEP) {
      hasher.update(plan.prompt.slice(fed, t * 4));
      fed = t * 4;
      steps.push(hasher.copy().digest('base64url'));
    }
    let hit = -1;
    for (let i = steps.length - 1; i >= 0; i--) {
      if (live(map, steps[i] ?? '', at)) {
        hit = i;
        break;
      }
    }
    for (const key of steps) store(map, key, OPENAI_TTL_MS, at);
    sweep(at);
    const read = hit >= 0 ? OPENAI_MIN + hit * OPENAI_STEP : 0;
    const stored = steps.length ? OPENAI_MIN + (steps.length - 1) * OPENAI_STEP : 0;
    count('chat', read, Math.max(0, stored - read), total - read);
    return { input: total, read, write5m: 0, write1h: 0 };
  };

  return {
    plan(api, body) {
      const model = typeof body['model'] === 'string' ? body['model'] : 'unknown-model';
      if (api === 'anthropic') return planAnthropic(body, model);
      return { api, model, total: estimateInput(body), prompt: JSON.stringify(promptValue(body)) };
    },
    commit(plan) {
      return plan.api === 'anthropic' ? commitAnthropic(plan) : commitChat(plan);
    },
    stats() {
      return structuredClone(totals);
    },
    resetStats() {
      totals = { anthropic: emptyTotals(), chat: emptyTotals(), completions: emptyTotals() };
    },
    clear() {
      entries.anthropic.clear();
      entries.chat.clear();
    },
  };
}
