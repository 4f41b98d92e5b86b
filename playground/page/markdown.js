// Discord's markdown, as far as chorus writes it (headers, quotes, subtext, code, bold, italic,
// underline, links, channel mentions), drawn with the Discord message components.
import { el } from './dom.js';

// Underscores emphasise only outside words (ANTHROPIC_API_KEY stays as it is), as in Discord.
const INLINE = /(\*\*[^*]+\*\*|(?<!\w)__[^_]+__(?!\w)|\*[^*\s][^*]*\*|(?<!\w)_[^_\s][^_]*_(?!\w)|`[^`]+`|<#\d+>|https?:\/\/[^\s<>()]+)/g;

/** Inline markdown of one line as nodes. channelName(id) names a channel mention. */
export function inline(text, channelName = () => undefined) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    const t = m[0];
    if (t.startsWith('**')) out.push(el('discord-bold', {}, inline(t.slice(2, -2), channelName)));
    else if (t.startsWith('__')) out.push(el('discord-underlined', {}, inline(t.slice(2, -2), channelName)));
    else if (t.startsWith('`')) out.push(el('discord-code', {}, t.slice(1, -1)));
    else if (t.startsWith('<#')) out.push(el('discord-mention', { type: 'channel' }, channelName(t.slice(2, -1)) ?? 'unknown channel'));
    else if (t.startsWith('http')) out.push(el('discord-link', { href: t, target: '_blank', rel: 'noreferrer' }, t));
    else out.push(el('discord-italic', {}, inline(t.slice(1, -1), channelName)));
    last = m.index + t.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** A message's content as nodes for the body of a discord-message. */
export function render(content, channelName) {
  const out = [];
  const lines = content.split('\n');
  // Blocks (code, headers, quotes, subtext) stand on their own lines; text lines need a break between them.
  let afterText = false;
  const block = (node) => { out.push(node); afterText = false; };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^```(\w*)\s*$/);
    if (fence) {
      const code = [];
      for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) code.push(lines[i]);
      block(el('discord-code', { multiline: true }, code.join('\n')));
      continue;
    }
    const header = line.match(/^(#{1,3}) (.*)$/);
    if (header) { block(el('discord-header', { level: header[1].length }, inline(header[2], channelName))); continue; }
    if (line.startsWith('> ') || line === '>') {
      const quoted = [];
      for (; i < lines.length && (lines[i].startsWith('> ') || lines[i] === '>'); i++) quoted.push(lines[i].slice(2));
      i--;
      block(el('discord-quote', {}, quoted.flatMap((q, k) => (k ? [el('br'), ...inline(q, channelName)] : inline(q, channelName)))));
      continue;
    }
    if (line.startsWith('-# ')) { block(el('discord-subscript', {}, inline(line.slice(3), channelName))); continue; }
    if (afterText) out.push(el('br'));
    out.push(...inline(line, channelName));
    afterText = true;
  }
  return out;
}
