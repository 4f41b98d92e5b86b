// A reply's history: from the Redis history the gateway keeps; filled from Discord once when the
// channel is new to chorus or the gateway has restarted since.
import type { APIMessage } from 'discord-api-types/v10';
import type { DiscordEdge } from '../core/discord.ts';
import type { HistoryStore } from '../core/history.ts';
import type { Ledger, PersonaPost } from '../core/ledger.ts';
import { readableContent, repliedToId, SPOKEN_TYPES, withForwarded, type ChannelMessage } from '../core/messages.ts';
import { readNameLine } from '../core/split.ts';

export function toChannelMessage(m: APIMessage, post: PersonaPost | undefined): ChannelMessage {
  const users = m.mentions.map((u) => ({ id: u.id, name: u.global_name ?? u.username }));
  const attachments = m.attachments.map((a) => ({ name: a.filename, url: a.url, ...(a.content_type ? { contentType: a.content_type } : {}) }));
  const replyToId = repliedToId(m.message_reference);
  return {
    id: m.id,
    authorId: m.author.id,
    authorName: m.author.global_name ?? m.author.username,
    content: readableContent(withForwarded(m.content, m.message_snapshots), users),
    ...(post ? { personaId: post.personaId, ...(post.notice ? { notice: true } : {}) } : {}),
    isBot: Boolean(m.author.bot || m.webhook_id),
    createdAt: m.timestamp,
    ...(replyToId ? { replyToId } : {}),
    ...(attachments.length ? { attachments } : {}),
  };
}

export interface HistoryDeps {
  discord: DiscordEdge;
  ledger: Ledger;
  history: HistoryStore;
  /** The bot's own user id: its messages (notices, command answers) are not conversation. */
  botUserId(): Promise<string>;
}

/** The channel's latest messages, oldest first, persona posts tagged with their persona. */
export async function channelHistory(deps: HistoryDeps, channelId: string, limit: number, prefetched?: { filled: boolean; messages: ChannelMessage[] }): Promise<ChannelMessage[]> {
  const spoken = (ms: ChannelMessage[]) => ms.filter((m) => m.content.trim().length > 0 || (m.attachments?.length ?? 0) > 0);
  // Usually filled: one round trip, and a refill (then a re-read) only when it is not.
  const { filled, messages: cached } = prefetched ?? (await deps.history.read(channelId, limit));
  if (filled) return spoken(cached);
  const [latest, botUserId] = await Promise.all([deps.discord.latest(channelId, limit), deps.botUserId()]);
  const spokenTypes = latest.filter((m) => SPOKEN_TYPES.has(m.type));
  const byBot = (m: APIMessage) => !m.webhook_id && m.author.id === botUserId;
  const posts = await deps.ledger.postsOf(spokenTypes.filter((m) => m.webhook_id || byBot(m)).map((m) => m.id));
  // What the gateway would have kept: words people and personas wrote, not Discord's or chorus's
  // notices. The bot's own messages are notices, but for a persona's post it made (a channel whose
  // webhooks Discord held), which is that persona's words, under its name, without the name line.
  const raw = spokenTypes.flatMap((m): APIMessage[] => {
    if (m.author.id !== botUserId) return [m]; // (an interaction's answer is the bot's too, with a webhook id: not conversation)
    const post = posts.get(m.id);
    const named = post && !post.notice ? readNameLine(m.content) : undefined;
    return named ? [{ ...m, content: named.piece, author: { ...m.author, username: named.name, global_name: named.name } }] : [];
  });
  // The gateway's copies know more (role names, nicknames) and stay; but where Discord says a message
  // was edited, its words may be newer than the copy held (an edit made while no session existed).
  const edited = raw.filter((m) => m.edited_timestamp);
  await Promise.all([
    deps.history.add(channelId, raw.filter((m) => !m.edited_timestamp).map((m) => toChannelMessage(m, posts.get(m.id))), { keepHeld: true }),
    deps.history.add(channelId, edited.map((m) => toChannelMessage(m, posts.get(m.id)))),
  ]);
  await deps.history.markFilled(channelId);
  return spoken(await deps.history.recent(channelId, limit));
}
