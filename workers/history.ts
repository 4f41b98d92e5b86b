// Channel history for a reply: read through REST, reduced to ChannelMessages, personas recognised.
import type { APIMessage } from 'discord-api-types/v10';
import type { DiscordEdge } from '../core/discord.ts';
import type { Ledger } from '../core/ledger.ts';
import { readableContent, type ChannelMessage } from '../core/messages.ts';

export function toChannelMessage(m: APIMessage, personaId: string | undefined): ChannelMessage {
  const users = m.mentions.map((u) => ({ id: u.id, name: u.global_name ?? u.username }));
  return {
    id: m.id,
    authorId: m.author.id,
    authorName: m.author.global_name ?? m.author.username,
    content: readableContent(m.content, users),
    ...(personaId ? { personaId } : {}),
    isBot: Boolean(m.author.bot || m.webhook_id),
    createdAt: m.timestamp,
    ...(m.message_reference?.message_id ? { replyToId: m.message_reference.message_id } : {}),
  };
}

/** Recent messages before the trigger, oldest first, each persona post tagged with its persona. */
export async function recentHistory(discord: DiscordEdge, ledger: Ledger, channelId: string, beforeId: string, limit: number): Promise<ChannelMessage[]> {
  const raw = await discord.history(channelId, beforeId, limit);
  const personas = await ledger.personasOfPosts(raw.filter((m) => m.webhook_id).map((m) => m.id));
  return raw.filter((m) => m.content.trim().length > 0).map((m) => toChannelMessage(m, personas.get(m.id)));
}
