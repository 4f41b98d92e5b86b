// What a model was shown, by message and author: where in the exact request each message's name and
// words stand. Recorded with every model call, so an export can withhold a person's words, or put a
// pseudonym for their name, exactly where they are — by who wrote them, not by searching for text
// that a nickname change, a re-read history or a short "yes" would make miss or over-match. Pure.
import { messageText } from '../context.ts';
import type { ChannelMessage } from '../messages.ts';

export interface ShownSpan {
  /** JSON pointer to a string in the request body (e.g. `/messages/2/content`). */
  path: string;
  start: number;
  end: number;
  part: 'name' | 'text';
}

export interface ShownMessage {
  messageId: string;
  /** A person's Discord user id, a persona's id, or another bot's id. */
  authorId: string;
  authorName: string;
  author: 'human' | 'persona' | 'bot';
  spans: ShownSpan[];
  /** Pointers to the image parts showing this message's attachments. */
  images: string[];
}

interface Field {
  path: string;
  text: string;
}

/** Every string in the body, in order, with its JSON pointer; image parts with their URL. */
function walk(value: unknown, path: string, strings: Field[], images: { path: string; url: string }[]): void {
  if (typeof value === 'string') {
    strings.push({ path, text: value });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => walk(v, `${path}/${i}`, strings, images));
    return;
  }
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const url = o.type === 'image' ? (o.source as { url?: unknown } | undefined)?.url : o.type === 'image_url' ? (o.image_url as { url?: unknown } | undefined)?.url : undefined;
    if (typeof url === 'string') {
      images.push({ path, url });
      return;
    }
    for (const [k, v] of Object.entries(o)) {
      if (k === 'model' || k === 'role' || k === 'type' || k === 'stop' || k === 'stop_sequences' || k === 'cache_control') continue;
      walk(v, `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, strings, images);
    }
  }
}

/**
 * Finds each kept message, in order, in the request's strings: messages are rendered in the order
 * they were said, so each is looked for after the one before — a short text cannot be found in an
 * earlier message's words. A message not found (a renderer that changed it) is left out; exports
 * then fall back to matching its text.
 */
export function locateShown(body: unknown, kept: readonly ChannelMessage[], system = ''): ShownMessage[] {
  const all: Field[] = [];
  const images: { path: string; url: string }[] = [];
  walk(body, '', all, images);
  // The system prompt is the persona's, not anyone's message: never searched, even where a prompt
  // string begins with it (completions).
  const roles = ((body as { messages?: { role?: string }[] })?.messages ?? []).map((m) => m.role);
  const strings = all
    .filter((f) => f.path !== '/system' && !f.path.startsWith('/system/') && !(roles[Number(/^\/messages\/(\d+)\//.exec(f.path)?.[1] ?? -1)] === 'system'))
    .map((f) => (system && f.text.startsWith(system) && f.path === '/prompt' ? { ...f, skip: system.length } : { ...f, skip: 0 }));
  const shown: ShownMessage[] = [];
  let field = 0;
  let offset = 0;
  for (const m of kept) {
    const text = messageText(m);
    const entry: ShownMessage = {
      messageId: m.id,
      authorId: m.personaId ?? m.authorId,
      authorName: m.authorName,
      author: m.personaId ? 'persona' : m.isBot ? 'bot' : 'human',
      spans: [],
      images: (m.attachments ?? []).flatMap((a) => images.filter((i) => i.url === a.url).map((i) => i.path)),
    };
    for (let f = field; f < strings.length && text; f++) {
      const at = strings[f]!.text.indexOf(text, Math.max(strings[f]!.skip, f === field ? offset : 0));
      if (at < 0) continue;
      entry.spans.push({ path: strings[f]!.path, start: at, end: at + text.length, part: 'text' });
      const label = `${m.authorName}: `;
      if (at >= label.length && strings[f]!.text.slice(at - label.length, at) === label) {
        entry.spans.push({ path: strings[f]!.path, start: at - label.length, end: at - 2, part: 'name' });
      }
      field = f;
      offset = at + text.length;
      break;
    }
    if (entry.spans.length || entry.images.length) shown.push(entry);
  }
  return shown;
}
