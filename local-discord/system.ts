// System messages as Discord makes them (developers/resources/message: "Message Reference Content
// Attribution"): THREAD_CREATED (18) in the parent when a public thread starts without a message,
// CHANNEL_PINNED_MESSAGE (6) referencing the pinned message, USER_JOIN (7), GUILD_BOOST (8), ...
import { channelById, Intents, lastMessageId } from './core.ts';
import type { Core } from './core.ts';
import { createThread } from './guilds.ts';
import { wireChannel, type StandInChannel, type StandInMessage, type StandInUser } from './model.ts';
import { createMessage } from './messages.ts';

/**
 * Starts a thread without a message. A public one (11) also posts THREAD_CREATED in the parent:
 * content is the thread's name, message_reference holds only the thread's channel_id and guild_id.
 */
/**
 * Archives a thread, or unarchives it (THREAD_UPDATE): Discord archives one after its auto-archive
 * duration without messages; a member's message, a webhook post with its thread_id, or Modify
 * Channel with `archived: false` unarchives it. The bot's own messages there are refused (50083).
 */
export function setArchived(core: Core, thread: StandInChannel, archived: boolean): void {
  if ((thread.archived ?? false) === archived) return;
  thread.archived = archived;
  core.dispatch('THREAD_UPDATE', wireChannel(thread, lastMessageId(core, thread.id)), { intent: Intents.Guilds });
}

export function startThread(core: Core, o: { parentId: string; name: string; type: 11 | 12; author: StandInUser }): { thread: StandInChannel; message?: StandInMessage } {
  const thread = createThread(core, { parentId: o.parentId, name: o.name, ownerId: o.author.id, type: o.type });
  if (o.type !== 11) return { thread };
  const message = createMessage(core, {
    channelId: o.parentId,
    content: o.name,
    author: o.author,
    type: 18,
    reference: { channel_id: thread.id, guild_id: thread.guild_id },
  });
  return { thread, message };
}

export interface SystemMessageInput {
  channelId: string;
  /** Discord's message type: 6 pin, 7 member join, 8 boost, 9–11 boost tiers, 18 thread created, ... */
  type: number;
  content?: string;
  author: StandInUser;
  /** Type 6: the pinned message (marked pinned; CHANNEL_PINS_UPDATE is sent first). */
  messageId?: string;
  /** Type 18: the thread the message points at. */
  threadId?: string;
}

export function systemMessage(core: Core, o: SystemMessageInput): StandInMessage {
  const channel = channelById(core, o.channelId);
  let reference: { message_id?: string; channel_id: string; guild_id: string } | undefined;
  let content = o.content ?? '';
  if (o.type === 6) {
    const pinned = o.messageId ? core.messageById.get(o.messageId) : undefined;
    if (!pinned || pinned.deleted || pinned.channel_id !== channel.id) throw new Error('stand-in: a pin message (type 6) needs messageId of a message in that channel');
    pinned.pinned = true;
    const last_pin_timestamp = new Date().toISOString();
    core.dispatch('CHANNEL_PINS_UPDATE', { guild_id: channel.guild_id, channel_id: channel.id, last_pin_timestamp }, { intent: Intents.Guilds });
    reference = { message_id: pinned.id, channel_id: channel.id, guild_id: channel.guild_id };
  } else if (o.type === 18) {
    const thread = o.threadId ? core.channels.get(o.threadId) : undefined;
    if (!thread) throw new Error('stand-in: a THREAD_CREATED message (type 18) needs threadId');
    reference = { channel_id: thread.id, guild_id: thread.guild_id };
    content = o.content ?? thread.name;
  }
  return createMessage(core, { channelId: channel.id, content, author: o.author, type: o.type, ...(reference ? { reference } : {}) });
}
