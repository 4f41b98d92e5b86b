// Messages of the stand-in: create, edit, delete and their gateway payloads.
import { guildById, Intents, permissionsIn, seen } from './core.ts';
import { PERMISSION_BITS } from './permissions.ts';
import type { Core } from './core.ts';
import { wireGuildMember } from './guilds.ts';
import { computeMentions, wireMessage, wireUser } from './model.ts';
import type { AllowedMentions, StandInMessage, StandInUser } from './model.ts';

export interface NewMessage {
  channelId: string;
  content: string;
  author: StandInUser & { avatar?: string | null };
  webhookId?: string;
  applicationId?: string;
  avatarUrl?: string;
  replyTo?: string;
  allowedMentions?: AllowedMentions;
  embeds?: unknown[];
  flags?: number;
  tts?: boolean;
  nonce?: string | number;
  /** Ephemeral interaction replies are stored but never dispatched. */
  ephemeral?: boolean;
  interactionMetadata?: Record<string, unknown>;
  /** Discord attachment objects. */
  attachments?: unknown[];
  /** A system message's type (6 pin, 7 join, 8 boost, 18 thread created, ...); no mentions parsed. */
  type?: number;
  /** A system message's message_reference (pins: the pinned message; THREAD_CREATED: the thread). */
  reference?: { message_id?: string; channel_id: string; guild_id?: string };
  /** Merged into the MESSAGE_CREATE payload only (odd fields other servers send). */
  extra?: Record<string, unknown>;
}

/** Stores a message and dispatches MESSAGE_CREATE. Throws MentionsError on bad allowed_mentions. */
export function createMessage(core: Core, input: NewMessage): StandInMessage {
  const channel = core.channels.get(input.channelId);
  if (!channel) throw new Error(`stand-in: unknown channel ${input.channelId}`);
  const guildId = channel.guild_id;
  const replied = input.replyTo ? core.messageById.get(input.replyTo) : undefined;
  const system = input.type !== undefined;
  const pinged = system ? { everyone: false, users: [], roles: [] } : computeMentions(input.content, input.allowedMentions, replied?.author.id);
  const id = core.nextId();
  const reference = replied
    ? { type: 0, message_id: replied.id, channel_id: replied.channel_id, guild_id: guildId }
    : input.reference ? { type: 0, ...input.reference } : undefined;
  const msg: StandInMessage = {
    id,
    channel_id: input.channelId,
    guild_id: guildId,
    content: input.content,
    author: { ...input.author },
    ...(input.webhookId ? { webhook_id: input.webhookId } : {}),
    ...(input.applicationId ? { application_id: input.applicationId } : {}),
    ...(input.avatarUrl ? { avatar_url: input.avatarUrl } : {}),
    type: input.type ?? (replied ? 19 : 0),
    flags: input.flags ?? 0,
    tts: input.tts ?? false,
    pinned: false,
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    ...(reference ? { message_reference: reference } : {}),
    mention_everyone: pinged.everyone,
    mentions: pinged.users.map((uid) => core.users.get(uid) ?? { id: uid, username: `user${uid.slice(-4)}` }),
    mention_roles: pinged.roles,
    embeds: input.embeds ?? [],
    attachments: input.attachments ?? [],
    components: [],
    ...(input.nonce !== undefined ? { nonce: input.nonce } : {}),
    ...(input.interactionMetadata ? { interaction_metadata: input.interactionMetadata } : {}),
    pinged,
  };
  core.messages.push(msg);
  core.channelMessages.get(msg.channel_id)?.push(msg);
  core.messageById.set(id, msg);
  // Discord sends a guild channel's messages only to a bot that can view the channel.
  const botSees = !guildId || (permissionsIn(core, channel, core.botUser.id) & PERMISSION_BITS.ViewChannel) !== 0n;
  if (!input.ephemeral && botSees) {
    const d = { ...gatewayMessage(core, msg), ...input.extra };
    core.dispatch('MESSAGE_CREATE', d, { intent: Intents.GuildMessages, message: msg, guildId });
  }
  for (const listener of [...core.messageListeners]) listener(msg);
  seen(core, { kind: 'message_created', message: msg });
  return msg;
}

export function editMessage(core: Core, msg: StandInMessage, patch: { content?: string; allowedMentions?: AllowedMentions; embeds?: unknown[] }): StandInMessage {
  if (patch.content !== undefined) msg.content = patch.content;
  if (patch.embeds !== undefined) msg.embeds = patch.embeds;
  // Edits re-parse mentions (highlighting), though Discord sends no new notification for them.
  const refId = msg.type === 19 ? msg.message_reference?.message_id : undefined;
  const replied = refId ? core.messageById.get(refId) : undefined;
  const pinged = computeMentions(msg.content, patch.allowedMentions, replied?.author.id);
  msg.pinged = pinged;
  msg.mention_everyone = pinged.everyone;
  msg.mentions = pinged.users.map((uid) => core.users.get(uid) ?? { id: uid, username: `user${uid.slice(-4)}` });
  msg.mention_roles = pinged.roles;
  msg.edited_timestamp = discordTimestamp();
  core.dispatch('MESSAGE_UPDATE', gatewayMessage(core, msg), { intent: Intents.GuildMessages, message: msg, guildId: msg.guild_id ?? null });
  seen(core, { kind: 'message_edited', message: msg });
  return msg;
}

export function deleteMessage(core: Core, msg: StandInMessage): void {
  msg.deleted = true;
  core.dispatch('MESSAGE_DELETE', { id: msg.id, channel_id: msg.channel_id, guild_id: msg.guild_id }, { intent: Intents.GuildMessages, guildId: msg.guild_id ?? null });
  seen(core, { kind: 'message_deleted', message: msg });
}

/** MESSAGE_CREATE/UPDATE payload: the REST shape plus guild_id and, for people, member. */
export function gatewayMessage(core: Core, msg: StandInMessage): Record<string, unknown> {
  const out = wireMessage(msg, (id) => core.messageById.get(id));
  if (!msg.guild_id) return out;
  const guild = guildById(core, msg.guild_id);
  out.guild_id = guild.id;
  const member = msg.webhook_id ? undefined : wireGuildMember(guild, msg.author.id);
  if (member) out.member = member;
  out.mentions = msg.mentions.map((u) => {
    const m = wireGuildMember(guild, u.id);
    return { ...wireUser(u), ...(m ? { member: m } : {}) };
  });
  return out;
}

export function toWire(core: Core, msg: StandInMessage): Record<string, unknown> {
  return wireMessage(msg, (id) => core.messageById.get(id));
}

/**
 * A time as Discord writes it in `edited_timestamp`: ISO 8601 with microseconds and an explicit
 * offset ("2026-12-07T21:15:03.123456+00:00"). Microseconds only go forward here, so two edits in one
 * millisecond differ, as they do on Discord.
 */
let lastMicros = 0;
export function discordTimestamp(now = Date.now()): string {
  const micros = Math.max(now * 1000, lastMicros + 1);
  lastMicros = micros;
  return `${new Date(Math.floor(micros / 1000)).toISOString().slice(0, 23)}${String(micros % 1000).padStart(3, '0')}+00:00`;
}
