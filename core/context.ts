// Builds what a persona reads: from (persona, history, trigger) to a provider-neutral prompt. Pure.
import type { Persona } from '../personas/schema.ts';
import { isImage, type ChannelMessage } from './messages.ts';
import { phraseSource } from './whole-words.ts';

export interface ContextLimits {
  /** At most this many messages of history, trigger included. */
  maxMessages: number;
  /** Approximate token budget for the history (about four characters a token). */
  maxTokens: number;
  /**
   * The window's start moves in steps of this many messages (by their place in the channel, `seq`),
   * not one message at a time: consecutive requests then share their beginning, which hosts cache.
   */
  step?: number;
}

/** Default step of a context window's start (see ContextLimits.step). */
export const WINDOW_STEP = 10;

export interface ChatTurn {
  role: 'user' | 'assistant';
  content: string;
  /** Images attached to the messages of this turn; sent only to hosts that read images. */
  images?: { url: string; name: string }[];
}

/** Longest message text a model is given; Discord allows 4,000 characters to some users. */
export const MAX_MESSAGE_CHARS = 4000;

/** A message's text as a model reads it: clipped, with its attachments named. */
export function messageText(m: ChannelMessage): string {
  const text = m.content.length > MAX_MESSAGE_CHARS ? `${m.content.slice(0, MAX_MESSAGE_CHARS)}… [message cut]` : m.content;
  const files = (m.attachments ?? []).map((a) => (isImage(a) ? `[image: ${a.name}]` : `[file: ${a.name}]`));
  return [text, ...files].filter(Boolean).join(' ');
}

export type Prompt =
  | { mode: 'chat'; system: string; turns: ChatTurn[] }
  | {
      mode: 'prefill';
      system: string;
      /** `Name: text` lines, ending with `Speaker:` for the model to continue. */
      transcript: string;
      speaker: string;
      /** Sequences that end the turn before the model speaks for someone else. */
      stop: string[];
    };

export interface BuiltContext {
  prompt: Prompt;
  /** The messages the model sees, oldest first (what the transcript records it was shown). */
  kept: ChannelMessage[];
  /** Ids of the messages the model sees, oldest first. */
  keptIds: string[];
  /** Ids dropped by the count or token budget, oldest first. */
  droppedIds: string[];
  estimatedTokens: number;
}

/** A rough, tokenizer-free estimate; good enough to bound a budget. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4) + 4;
}

/**
 * Keeps the newest messages that fit the count and token budgets, oldest dropped first. The
 * trigger keeps its place in time (answers posted after it stay after it) and is always kept,
 * even alone over budget: answering without it makes no sense. It is read as the history holds it
 * (edited since it was routed, it is answered as it now reads); the job's copy stands in only
 * where the history no longer reaches back to it.
 *
 * With a step and messages that know their place in the channel, the oldest message kept is the
 * first at or after a boundary (a multiple of the step): the window's start stays put while the
 * channel moves on, and jumps a step when it must, so requests share their beginning.
 */
export function selectHistory(
  history: readonly ChannelMessage[],
  trigger: ChannelMessage,
  limits: ContextLimits,
): { kept: ChannelMessage[]; dropped: ChannelMessage[]; tokens: number } {
  const held = history.find((m) => m.id === trigger.id);
  const asked = held ?? trigger;
  const timeline = held ? history : [...history, trigger];
  const cost = (m: ChannelMessage) => estimateTokens(`${m.authorName}: ${messageText(m)}`);
  const step = limits.step ?? 1;
  if (step > 1 && timeline.every((m) => m === asked || m.seq !== undefined)) return steppedWindow(timeline, asked, limits, step, cost);
  let tokens = cost(asked);
  let count = 1;
  const keep = new Set<ChannelMessage>([asked]);
  for (let i = timeline.length - 1; i >= 0; i--) {
    const m = timeline[i]!;
    if (m === asked) continue;
    if (count >= limits.maxMessages || tokens + cost(m) > limits.maxTokens) break;
    keep.add(m);
    tokens += cost(m);
    count += 1;
  }
  return { kept: timeline.filter((m) => keep.has(m)), dropped: timeline.filter((m) => !keep.has(m)), tokens };
}

function steppedWindow(timeline: readonly ChannelMessage[], trigger: ChannelMessage, limits: ContextLimits, step: number, cost: (m: ChannelMessage) => number) {
  const seqs = timeline.flatMap((m) => (m.seq === undefined ? [] : [m.seq]));
  const last = seqs.length ? Math.max(...seqs) : 0;
  // The first boundary at or after which at most maxMessages messages remain.
  let boundary = Math.ceil((last - limits.maxMessages + 1) / step) * step;
  for (;;) {
    const kept = timeline.filter((m) => m === trigger || (m.seq ?? -1) >= boundary);
    const tokens = kept.reduce((sum, m) => sum + cost(m), 0);
    if (tokens <= limits.maxTokens || kept.length <= 1) {
      const keep = new Set(kept);
      return { kept, dropped: timeline.filter((m) => !keep.has(m)), tokens };
    }
    boundary += step; // over budget: the start jumps a whole step, so it stays on a boundary
  }
}

/**
 * What a persona answering `trigger` should read: the channel up to the trigger, then the persona
 * posts made since (answers to it and to earlier messages). Later messages of people are left
 * out: they get their own turns, and a persona answering this message should answer this one.
 */
export function conversationFor(history: readonly ChannelMessage[], trigger: ChannelMessage): ChannelMessage[] {
  const at = BigInt(trigger.id);
  // Notices ("could not answer") are chorus speaking about a model, not the model speaking.
  return history.filter((m) => !m.notice && (BigInt(m.id) <= at || m.personaId !== undefined));
}

export function buildContext(
  persona: Persona,
  history: readonly ChannelMessage[],
  trigger: ChannelMessage,
  limits: ContextLimits,
): BuiltContext {
  const { kept, dropped, tokens } = selectHistory(conversationFor(history, trigger), trigger, limits);
  const prompt = persona.contextMode === 'chat' ? chatPrompt(persona, kept) : prefillPrompt(persona, kept);
  return { prompt, kept, keptIds: kept.map((m) => m.id), droppedIds: dropped.map((m) => m.id), estimatedTokens: tokens };
}

/** The most images one request carries: hosts cap them (Anthropic at 100, at smaller sizes past 20). */
export const MAX_IMAGES = 20;

/** An attachment link this close to expiring is not sent: the host may fetch it a little later. */
const EXPIRY_MARGIN_MS = 10 * 60_000;

/**
 * When a Discord attachment link stops working (ms since the epoch): Discord signs them (`ex`, `is`,
 * `hm`), and a host fetching one past its `ex`, about a day after Discord gave it out, gets a 404.
 * Undefined for any other link.
 */
export function imageLinkExpiry(url: string): number | undefined {
  try {
    const q = new URL(url).searchParams;
    const ex = q.get('ex');
    return ex && q.has('is') && q.has('hm') && /^[0-9a-f]{1,12}$/i.test(ex) ? parseInt(ex, 16) * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The images a host can still fetch: an expired link (or one about to be) is left out, and only the
 * newest MAX_IMAGES are sent. Each stays named in its message's text (`[image: name]`), as for a
 * host that reads none. A host refused every later turn of a channel while an image posted the day
 * before stayed in its history.
 */
export function sendableImages(prompt: Prompt, now: number): Prompt {
  if (prompt.mode !== 'chat') return prompt;
  let room = MAX_IMAGES;
  const newestFirst = [...prompt.turns].reverse().map((t): ChatTurn => {
    if (!t.images?.length) return t;
    const fresh = t.images.filter((i) => (imageLinkExpiry(i.url) ?? Infinity) > now + EXPIRY_MARGIN_MS);
    const kept = fresh.slice(Math.max(0, fresh.length - room));
    room -= kept.length;
    const { images: _, ...text } = t;
    return kept.length ? { ...text, images: kept } : text;
  });
  return { ...prompt, turns: newestFirst.reverse() };
}

/**
 * An answer without the persona's own name written before it ("Opus: Hello", "**Opus:** Hello"):
 * a chat model shown everyone else's words as `Name: text` often answers in the same form, which
 * under the persona's own name and avatar reads twice, and is read back by later turns as
 * "Opus: Opus: Hello". Pure.
 */
export function withoutOwnName(text: string, persona: Pick<Persona, 'name' | 'id' | 'aliases'>): string {
  const names = [persona.name, persona.id, ...persona.aliases].map(phraseSource);
  const own = new RegExp(`^\\s*[*_]{0,2}(?:${names.join('|')})[*_]{0,2}\\s*:[*_]{0,2}\\s*(?=\\S)`, 'iu');
  return text.replace(own, '');
}

const SKIPPED = '[earlier messages are not shown]';

/**
 * Native chat: the persona's own posts are assistant turns; everyone else speaks in user turns
 * prefixed with their name. Same-role neighbours are merged, and the turns start and end with a
 * user turn, which satisfies Anthropic's rules (and OpenAI's, which are looser).
 */
export function chatPrompt(persona: Persona, messages: readonly ChannelMessage[]): Prompt {
  const turns: ChatTurn[] = [];
  for (const m of messages) {
    const own = m.personaId === persona.id;
    const images = (m.attachments ?? []).filter(isImage).map((a) => ({ url: a.url, name: a.name }));
    const turn: ChatTurn = {
      role: own ? 'assistant' : 'user',
      content: own ? messageText(m) : `${m.authorName}: ${messageText(m)}`,
      ...(images.length && !own ? { images } : {}),
    };
    const last = turns.at(-1);
    if (last && last.role === turn.role) {
      const merged = [...(last.images ?? []), ...(turn.images ?? [])];
      turns[turns.length - 1] = { role: last.role, content: `${last.content}\n\n${turn.content}`, ...(merged.length ? { images: merged } : {}) };
    } else turns.push(turn);
  }
  if (turns[0]?.role !== 'user') turns.unshift({ role: 'user', content: SKIPPED });
  if (turns.at(-1)?.role !== 'user') turns.push({ role: 'user', content: '[your turn]' });
  return { mode: 'chat', system: persona.systemPrompt.trim(), turns };
}

/** Most completion APIs accept at most four stop sequences. */
const MAX_STOPS = 4;

/**
 * Prefill: the conversation as a plain transcript ending in `Name:`, for base models and for
 * chat models asked to continue a transcript. Consecutive lines of one speaker are merged.
 */
export function prefillPrompt(persona: Persona, messages: readonly ChannelMessage[]): Prompt {
  const blocks: { speaker: string; text: string }[] = [];
  for (const m of messages) {
    const speaker = m.personaId === persona.id ? persona.name : m.authorName;
    const last = blocks.at(-1);
    if (last && last.speaker === speaker) last.text += `\n${messageText(m)}`;
    else blocks.push({ speaker, text: messageText(m) });
  }
  const transcript = blocks.map((b) => `${b.speaker}: ${b.text}`).join('\n') + `\n${persona.name}:`;
  // Stop at the next line spoken by anyone else, most recent speakers first.
  const others = [...new Set(blocks.map((b) => b.speaker).reverse())].filter((s) => s !== persona.name);
  const stop = others.slice(0, MAX_STOPS - 1).map((s) => `\n${s}:`);
  stop.push(`\n${persona.name}:`);
  return { mode: 'prefill', system: persona.systemPrompt.trim(), transcript, speaker: persona.name, stop };
}
