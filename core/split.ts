// Splits a reply into Discord-sized messages at sensible boundaries. Pure.

export const DISCORD_MESSAGE_LIMIT = 2000;

/**
 * Room kept in every piece for the line naming its persona, should the piece be posted by the bot
 * itself rather than a webhook (a channel whose webhooks Discord holds: see core/discord.ts).
 */
export const NAME_LINE_ROOM = 100;

/**
 * A persona's piece as the bot posts it: the persona's name in bold on a line of its own, then the
 * piece. Markdown in the name is escaped (it must not restyle the line); a name longer than
 * NAME_MAX is cut first, so the line fits NAME_LINE_ROOM even escaped, and a piece of
 * splitMessage's size always fits Discord's limit.
 */
export function withNameLine(name: string, piece: string): string {
  const flat = name.replace(/\s+/g, ' ').trim() || '?';
  const short = [...flat].length <= NAME_MAX ? flat : `${[...flat].slice(0, NAME_MAX - 1).join('')}…`;
  return `**${short.replace(/[\\*_~`|]/g, '\\$&')}**\n${piece}`;
}

/** The name and the words of a post withNameLine made; undefined for any other text. */
export function readNameLine(content: string): { name: string; piece: string } | undefined {
  const m = /^\*\*((?:\\.|[^\\*])+)\*\*\n([\s\S]*)$/.exec(content);
  return m ? { name: m[1]!.replace(/\\(.)/g, '$1'), piece: m[2]! } : undefined;
}

/** Longest name on a name line: escaping at most doubles it, and it must fit NAME_LINE_ROOM with its marks. */
const NAME_MAX = 45;

/**
 * Cuts text into pieces of at most `limit` characters, preferring (in order) a paragraph break,
 * a line break, a sentence end, then a space; a word longer than the limit is cut hard. A code
 * block cut in two is closed at the end of one piece and reopened (same language) in the next.
 */
export function splitMessage(text: string, limit = DISCORD_MESSAGE_LIMIT - NAME_LINE_ROOM): string[] {
  const pieces: string[] = [];
  let rest = text.trim();
  let reopen = ''; // fence to reopen at the start of the next piece
  while (rest.length > 0) {
    const body = reopen + rest;
    if (body.length <= limit) {
      pieces.push(body);
      break;
    }
    // Leave room for a closing fence in case this piece ends inside a code block.
    const room = limit - 4;
    const cut = bestCut(body, room, reopen.length);
    let piece = body.slice(0, cut).trimEnd();
    const open = openFence(piece);
    if (open !== null) piece += '\n```';
    pieces.push(piece);
    rest = body.slice(cut).replace(/^\s*\n/, '').trimStart();
    reopen = open !== null ? `\`\`\`${open}\n` : '';
  }
  return pieces.filter((p) => p.trim().length > 0);
}

function bestCut(text: string, room: number, minimum: number): number {
  const window = text.slice(0, room);
  const floor = Math.max(minimum + 1, Math.floor(room / 3)); // never cut absurdly short pieces
  for (const boundary of [/\n\s*\n/g, /\n/g, /[.!?…](?=\s)/g, /\s/g]) {
    let at = -1;
    for (const m of window.matchAll(boundary)) {
      const end = boundary.source.startsWith('[') ? m.index + m[0].length : m.index;
      if (end >= floor) at = end;
    }
    if (at > 0) return at;
  }
  // One unbroken run: cut hard, but not inside a surrogate pair.
  const code = text.charCodeAt(room - 1);
  return code >= 0xd800 && code <= 0xdbff ? room - 1 : room;
}

/** The language tag of a code block left open at the end of `text`, or null when all are closed. */
function openFence(text: string): string | null {
  let open: string | null = null;
  for (const m of text.matchAll(/^```(\S*)/gm)) open = open === null ? (m[1] ?? '') : null;
  return open;
}
