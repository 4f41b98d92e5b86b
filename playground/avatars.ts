// Avatars for whoever has none of their own (people, the app, personas without avatarUrl): a
// coloured circle with an initial, drawn here, so the page never waits on an outside image. Pure.
import { createHash } from 'node:crypto';

const COLOURS = ['#5865f2', '#3ba55c', '#faa61a', '#ed4245', '#eb459e', '#747f8d', '#1abc9c', '#9b59b6'];

/** Where the page finds a generated avatar for a name. */
export const avatarPath = (name: string): string => `/avatars/${encodeURIComponent(name || '?')}.svg`;

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function avatarSvg(name: string): string {
  const digest = createHash('sha256').update(name).digest();
  const colour = COLOURS[(digest[0] ?? 0) % COLOURS.length];
  const initial = escapeXml((Array.from(name.trim())[0] ?? '?').toUpperCase());
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 80 80"><circle cx="40" cy="40" r="40" fill="${colour}"/><text x="40" y="53" font-family="sans-serif" font-size="38" text-anchor="middle" fill="#fff">${initial}</text></svg>`;
}
