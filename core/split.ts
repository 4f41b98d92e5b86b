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

/** Text cut to at most `max` characters, marked with an ellipsis, never inside a surrogate pair. */
export function clipText(text: string, max = DISCORD_MESSAGE_LIMIT): string {
  if (text.length <= max) return text;
  const end = max - 1;
  const code = text.charCodeAt(end - 1);
  return `${text.slice(0, code >= 0xd800 && code <= 0xdbff ? end - 1 : end)}…`;
}

/** Longest name on a name line: escaping at most doubles it, and it must fit NAME_LINE_ROOM with its marks. */
const NAME_MAX = 45;

/**
 * Cuts text into pieces of at most `limit` characters, preferring (in order) a paragraph break,
 * a line break, a sentence end, then a space; a word longer than the limit is cut hard, between
 * graphemes and outside a mention or timestamp token. A code block cut in two is closed at the end
 * of one piece and reopened (same language, same indentation) in the next, its code's indentation
 * kept. Every piece is shorter than the text left before it: model output of any shape ends.
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
    // Leave room for a closing fence (indented as its opener) in case this piece ends inside a code block.
    const room = limit - 4 - MAX_INDENT;
    const cut = bestCut(body, room, reopen.length);
    let piece = body.slice(0, cut).trimEnd();
    const open = openFence(piece);
    if (open) piece += `\n${open.indent}\`\`\``;
    pieces.push(piece);
    const after = body.slice(cut);
    // Inside code, indentation is meaning: only the line break (and blank lines) at the cut go.
    rest = open ? after.replace(/^(?:[ \t]*\r?\n)+/, '') : after.replace(/^\s*\n/, '').trimStart();
    reopen = open ? `${open.indent}\`\`\`${open.lang}\n` : '';
  }
  return pieces.filter((p) => p.trim().length > 0);
}

/** Indentation kept on a fence (a code block in a list item); a deeper one is not reproduced. */
const MAX_INDENT = 8;

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
  return hardCut(text, room, minimum);
}

// Made on first use: the gateway loads this file for clipText, and never cuts a word hard.
let graphemes: Intl.Segmenter | undefined;

/**
 * One unbroken run cut at `room`, or a little before: not inside a grapheme (a surrogate pair, an
 * emoji sequence, a letter and its marks) nor inside a `<@id>`, `<#id>`, `<t:…>`-like token, which
 * Discord would show as raw text in two halves. Always past `minimum`, so the text shortens.
 */
function hardCut(text: string, room: number, minimum: number): number {
  let at = room;
  graphemes ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  for (const { index } of graphemes.segment(text.slice(0, room + 32))) {
    if (index > room) break;
    at = index;
  }
  const token = /<[@#:&!ta][^<>\s]{0,60}$/.exec(text.slice(Math.max(0, at - 64), at));
  if (token) at -= token[0].length;
  return at > minimum ? at : Math.max(room, minimum + 1);
}

/**
 * The code block left open at the end of `text`, with its language tag and indentation; null when all
 * are closed. A fence opens or closes at the start of a line (after up to MAX_INDENT spaces); a line
 * holding a whole block (```x```) leaves the state as it was; a language tag is a short word (the rest
 * of an opening line that is no tag is code, not reopened on every piece).
 */
function openFence(text: string): { lang: string; indent: string } | null {
  let open: { lang: string; indent: string } | null = null;
  for (const m of text.matchAll(/^([ \t]*)```(.*)$/gm)) {
    const [, indent = '', after = ''] = m;
    if (after.includes('```')) continue;
    if (open) open = null;
    else open = { lang: /^[\w+#.-]{1,20}$/.test(after.trim()) ? after.trim() : '', indent: indent.length <= MAX_INDENT ? indent : '' };
  }
  return open;
}
