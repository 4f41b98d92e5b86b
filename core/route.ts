// Who answers a message. Pure: the gateway gathers the facts, this decides.
import type { Persona } from '../personas/schema.ts';

export interface IncomingMessage {
  content: string;
  /** Bots and webhooks, chorus's own personas included. */
  authorIsBot: boolean;
  /** The persona whose post this message replies to, if the gateway found one. */
  repliedToPersonaId?: string;
}

export type Trigger = 'named' | 'reply';

export interface RouteDecision {
  personaId: string;
  trigger: Trigger;
}

/**
 * Personas that should answer, in the order they are addressed. A persona answers when its
 * name or an alias is addressed, or when the message replies to one of its posts. Messages from
 * bots are not answered yet (model-to-model turns need loop limits first).
 */
export function route(message: IncomingMessage, personas: readonly Persona[]): RouteDecision[] {
  if (message.authorIsBot) return [];
  const found: { personaId: string; trigger: Trigger; at: number }[] = [];
  const text = speakableText(message.content);
  for (const persona of personas) {
    if (persona.id === message.repliedToPersonaId) {
      found.push({ personaId: persona.id, trigger: 'reply', at: -1 });
      continue;
    }
    const at = firstAddress(text, [persona.name, persona.id, ...persona.aliases]);
    if (at >= 0) found.push({ personaId: persona.id, trigger: 'named', at });
  }
  return found.sort((a, b) => a.at - b.at).map(({ personaId, trigger }) => ({ personaId, trigger }));
}

/**
 * Blanks out the parts of a message where a name is not an address: code blocks, inline code,
 * URLs and Discord mention syntax. Positions are kept so "first addressed" stays meaningful.
 */
export function speakableText(content: string): string {
  const blank = (m: string) => ' '.repeat(m.length);
  return content
    .replace(/```[\s\S]*?```/g, blank)
    .replace(/`[^`\n]*`/g, blank)
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, blank)
    .replace(/<[@#][!&]?\d+>/g, blank);
}

/** Index of the earliest whole-word, case-insensitive occurrence of any handle; -1 if none. */
export function firstAddress(text: string, handles: readonly string[]): number {
  let best = -1;
  for (const handle of handles) {
    const escaped = handle.trim().replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+');
    if (!escaped) continue;
    // Word boundaries that also work for handles starting or ending in punctuation ("GPT-4o", "o1.").
    const re = new RegExp(`(?<![\\p{L}\\p{N}_])${escaped}(?![\\p{L}\\p{N}_])`, 'iu');
    const m = re.exec(text);
    if (m && (best < 0 || m.index < best)) best = m.index;
  }
  return best;
}
