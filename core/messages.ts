// The conversation as chorus sees it: Discord messages reduced to what context building needs.

export interface ChannelMessage {
  id: string;
  authorId: string;
  /** The name shown in Discord (a member's display name, or the persona's name). */
  authorName: string;
  /** Text with mentions already made readable (`<@123>` → `@name`). */
  content: string;
  /** Set when this message was posted by a chorus persona. */
  personaId?: string;
  /** Its place in the channel as chorus's history counts it (1, 2, …), when known. */
  seq?: number;
  /** A notice chorus posted (as a persona or itself), not anyone's words: no model reads it. */
  notice?: boolean;
  /** Any bot or webhook author, persona or not. */
  isBot: boolean;
  createdAt: string;
  /** The message this one replies to, if any. */
  replyToId?: string;
  /** Files attached to the message. */
  attachments?: Attachment[];
}

/**
 * Message types people write: a plain message (0) and a reply (19). Everything else — pins, joins,
 * boosts, thread notices, command answers — is Discord or chorus speaking: never routed, never read
 * by a model as if someone had said it.
 */
export const SPOKEN_TYPES: ReadonlySet<number> = new Set([0, 19]);

export interface Attachment {
  name: string;
  url: string;
  contentType?: string;
}

/**
 * An image the hosts read (PNG, JPEG, GIF, WebP): by its content type as Discord gives it, however
 * written (`IMAGE/PNG`, `image/jpg`, with parameters), else by its file name (Discord leaves the
 * type out for some uploads).
 */
export function isImage(a: Attachment): boolean {
  const type = (a.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type) return /^image\/(png|jpe?g|gif|webp)$/.test(type);
  return /\.(png|jpe?g|gif|webp)$/i.test(a.name);
}

const DISCORD_EPOCH = 1420070400000n;

/** Milliseconds since epoch encoded in a Discord snowflake. */
export function snowflakeTime(id: string): number {
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}

/** When the message an id names was made, if the id is a Discord snowflake (undefined otherwise). */
export function madeAt(id: string): number | undefined {
  return /^\d{17,20}$/.test(id) ? snowflakeTime(id) : undefined;
}

/** The lowest snowflake of a moment: Discord's `after` and `before` take one to mean a time. */
export function snowflakeAt(ms: number): string {
  return ((BigInt(Math.floor(ms)) - DISCORD_EPOCH) << 22n).toString();
}

interface MentionedUser {
  id: string;
  name: string;
}

/**
 * Rewrites Discord mention syntax into readable names, so models read `@alice` rather than
 * `<@1234>` — and never learn ids they could echo back as pings.
 */
/** A message reference as Discord sends it: type 0 (or none) a reply, 1 a forward. */
interface Reference {
  message_id?: string | null;
  type?: number | null;
}

/** The message a reply answers; undefined for a forward (it answers nothing) and for anything else. */
export function repliedToId(ref: Reference | null | undefined): string | undefined {
  return ref?.message_id && !ref.type ? ref.message_id : undefined;
}

/**
 * A message's words, with what it forwards: a forward's own content is empty (or the sender's
 * comment), and the forwarded words come in its snapshot. Shown as such, so no model takes them
 * for the sender's own. Pure.
 */
export function withForwarded(content: string, snapshots: readonly { message?: { content?: string | null } | null }[] | null | undefined): string {
  const forwarded = (snapshots ?? []).map((s) => s.message?.content?.trim() ?? '').filter(Boolean);
  return [content, ...forwarded.map((f) => `[forwarded] ${f}`)].filter(Boolean).join('\n');
}

export function readableContent(content: string, users: MentionedUser[], roles: MentionedUser[] = []): string {
  const userNames = new Map(users.map((u) => [u.id, u.name]));
  const roleNames = new Map(roles.map((r) => [r.id, r.name]));
  return content
    .replace(/<@!?(\d+)>/g, (_, id: string) => `@${userNames.get(id) ?? 'unknown-user'}`)
    .replace(/<@&(\d+)>/g, (_, id: string) => `@${roleNames.get(id) ?? 'unknown-role'}`)
    .replace(/<#(\d+)>/g, '#channel')
    .replace(/<a?:(\w+):\d+>/g, ':$1:');
}
