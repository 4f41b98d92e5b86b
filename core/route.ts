// Who answers a message. Pure: the gateway (or a worker, for persona posts) gathers the facts,
// this decides, and says why it left anyone out.
import type { Persona } from '../personas/schema.ts';
import { phraseSource, wholeWords } from './whole-words.ts';

export type Author =
  | { kind: 'human' }
  /** A chorus persona's post; `depth` counts persona posts since the last human message. */
  | { kind: 'persona'; personaId: string; depth: number }
  /** Any other bot or webhook: never answered, so chorus cannot loop with other bots. */
  | { kind: 'bot' };

export interface IncomingMessage {
  content: string;
  author: Author;
  /** The persona whose post this message replies to, if any. */
  repliedToPersonaId?: string;
  /** Personas @-mentioned through their roles, with where the mention stands in the text. */
  mentions?: { personaId: string; at: number }[];
}

export interface ChannelState {
  /** Persona ids on the channel's roster. */
  roster: readonly string[];
  interjectionProbability: number;
  chainDepth: number;
  cooldownSeconds: number;
  repliesPerMinute: number;
  /** When each persona last posted in this channel (ms). */
  lastPostAt: ReadonlyMap<string, number>;
  /** Ambient and model-triggered replies in this channel in the last minute. */
  ambientRepliesLastMinute: number;
}

export type Trigger = 'named' | 'reply' | 'mention' | 'ask' | 'interjection';

export interface RouteDecision {
  personaId: string;
  trigger: Trigger;
  /** Chain depth of the post this reply will make: 1 after a human, one more after a persona. */
  depth: number;
}

export type SkipReason = 'chain-depth' | 'not-on-roster' | 'cooldown' | 'channel-rate' | 'too-many' | 'self';

export interface RouteResult {
  answer: RouteDecision[];
  skipped: { personaId: string; reason: SkipReason }[];
}

export interface RouteOptions {
  maxPerMessage: number;
  now: number;
  /** Injected so interjections are testable; returns [0, 1). */
  random: () => number;
}

export function route(message: IncomingMessage, personas: readonly Persona[], channel: ChannelState, opts: RouteOptions): RouteResult {
  const result: RouteResult = { answer: [], skipped: [] };
  const author = message.author;
  if (author.kind === 'bot') return result;

  const addressed = addressedPersonas(message, personas);
  const depth = author.kind === 'persona' ? author.depth + 1 : 1;
  let ambientBudget = channel.repliesPerMinute - channel.ambientRepliesLastMinute;
  const coolingDown = (id: string) => opts.now - (channel.lastPostAt.get(id) ?? -Infinity) < channel.cooldownSeconds * 1000;

  for (const { personaId, trigger } of addressed) {
    if (author.kind === 'persona') {
      if (personaId === author.personaId) {
        result.skipped.push({ personaId, reason: 'self' });
        continue;
      }
      const reason: SkipReason | undefined =
        author.depth >= channel.chainDepth
          ? 'chain-depth'
          : !channel.roster.includes(personaId)
            ? 'not-on-roster'
            : coolingDown(personaId)
              ? 'cooldown'
              : ambientBudget <= 0
                ? 'channel-rate'
                : undefined;
      if (reason) {
        result.skipped.push({ personaId, reason });
        continue;
      }
      ambientBudget -= 1;
    }
    if (result.answer.length >= opts.maxPerMessage) {
      result.skipped.push({ personaId, reason: 'too-many' });
      continue;
    }
    result.answer.push({ personaId, trigger, depth });
  }

  // Nobody addressed by a human: perhaps someone on the roster joins in.
  if (author.kind === 'human' && addressed.length === 0 && channel.interjectionProbability > 0 && opts.random() < channel.interjectionProbability) {
    const candidates = channel.roster.filter((id) => personas.some((p) => p.id === id) && !coolingDown(id));
    if (candidates.length > 0 && ambientBudget > 0) {
      const personaId = candidates[Math.floor(opts.random() * candidates.length)]!;
      result.answer.push({ personaId, trigger: 'interjection', depth });
    }
  }
  return result;
}

/**
 * Every persona the message addresses, in the order addressed; a replied-to persona first. Where one
 * persona's name stands inside another's ("Opus" in "Claude 3 Opus"), only the longer one is named.
 */
export function addressedPersonas(message: IncomingMessage, personas: readonly Persona[]): { personaId: string; trigger: Trigger }[] {
  const found: { personaId: string; trigger: Trigger; at: number }[] = [];
  const text = speakableText(message.content);
  const names = namedAt(text, personas);
  for (const persona of personas) {
    if (persona.id === message.repliedToPersonaId) {
      found.push({ personaId: persona.id, trigger: 'reply', at: -1 });
      continue;
    }
    const mention = message.mentions?.find((m) => m.personaId === persona.id);
    const named = names.get(persona.id) ?? -1;
    if (mention && (named < 0 || mention.at <= named)) found.push({ personaId: persona.id, trigger: 'mention', at: mention.at });
    else if (named >= 0) found.push({ personaId: persona.id, trigger: 'named', at: named });
  }
  return found.sort((a, b) => a.at - b.at).map(({ personaId, trigger }) => ({ personaId, trigger }));
}

/**
 * Where each persona is first named: every occurrence of every persona's handles, the longest kept
 * where two overlap (so "Claude 3 Opus" names that persona, not also the one called "Opus").
 */
function namedAt(text: string, personas: readonly Persona[]): Map<string, number> {
  const all: { personaId: string; at: number; end: number }[] = [];
  for (const p of personas) {
    const re = patternOf([p.name, p.id, ...p.aliases], 'giu');
    if (re) for (const m of text.matchAll(re)) all.push({ personaId: p.id, at: m.index, end: m.index + m[0].length });
  }
  all.sort((a, b) => b.end - b.at - (a.end - a.at) || a.at - b.at);
  const kept: typeof all = [];
  for (const m of all) if (!kept.some((k) => m.at < k.end && k.at < m.end)) kept.push(m);
  const first = new Map<string, number>();
  for (const m of kept) first.set(m.personaId, Math.min(first.get(m.personaId) ?? Infinity, m.at));
  return first;
}

/**
 * Blanks out the parts of a message where a name is not an address: code blocks, inline code, quoted
 * lines ("> Opus said…", and all after ">>> "), web addresses (with a scheme or without: "opus.example.com") and Discord
 * mention syntax. Positions are kept so "first addressed" stays meaningful.
 */
export function speakableText(content: string): string {
  const blank = (m: string) => ' '.repeat(m.length);
  return content
    .replace(/```[\s\S]*?```/g, blank)
    .replace(/`[^`\n]*`/g, blank)
    .replace(/^>>> [\s\S]*$/m, blank)
    .replace(/^> .*$/gm, blank)
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, blank)
    .replace(/\b(?:[a-z0-9-]+\.)+(?:com|org|net|io|ai|dev|app|co|gg|me|info|edu|gov|uk|de|fr)\b(?:\/\S*)?/gi, blank)
    .replace(/<[@#][!&]?\d+>/g, blank);
}

/** One pattern for a set of handles, built once per set (routing runs for every message). */
const patterns = new Map<string, RegExp | null>();

function patternOf(handles: readonly string[], flags = 'iu'): RegExp | null {
  const key = `${flags}\u0000${handles.join('\u0000')}`;
  let re = patterns.get(key);
  if (re === undefined) {
    // Longest first: an alternation takes the first handle that matches, and "Claude 3 Opus" must win over "Claude".
    re = wholeWords([...handles].sort((a, b) => b.length - a.length).map(phraseSource), flags);
    patterns.set(key, re);
  }
  return re;
}

/** Index of the earliest whole-word, case-insensitive occurrence of any handle; -1 if none. */
export function firstAddress(text: string, handles: readonly string[]): number {
  return patternOf(handles)?.exec(text)?.index ?? -1;
}
