// Shared state of the Discord stand-in and the operations both REST and the test API use.
import {
  computeMentions,
  createSnowflakes,
  wireChannel,
  wireMember,
  wireMessage,
  wireRole,
  wireUser,
} from './model.ts';
import type {
  AllowedMentions,
  StandInChannel,
  StandInMessage,
  StandInRole,
  StandInUser,
  StandInWebhook,
} from './model.ts';

export const Intents = {
  Guilds: 1 << 0,
  GuildMessages: 1 << 9,
  GuildMessageTyping: 1 << 11,
  MessageContent: 1 << 15,
} as const;

export interface DispatchOptions {
  /** Intent a connection needs to receive the event at all. */
  intent?: number;
  /** The message whose content is withheld from connections without MESSAGE_CONTENT. */
  message?: StandInMessage;
}

export interface Interaction {
  id: string;
  token: string;
  channelId: string;
  userId: string;
  responded: boolean;
  originalMessageId?: string;
  /** 2 APPLICATION_COMMAND, 4 APPLICATION_COMMAND_AUTOCOMPLETE. */
  type?: number;
  /** Called with the callback body once the bot answers. */
  onCallback?: (body: Record<string, unknown>) => void;
}

export interface StoredAttachment {
  contentType: string;
  bytes: Buffer;
}

export interface Core {
  nextId: () => string;
  token: string;
  applicationId: string;
  botUser: StandInUser;
  guildId: string;
  guildName: string;
  ownerId: string;
  roles: StandInRole[];
  channels: Map<string, StandInChannel>;
  messages: StandInMessage[];
  messageById: Map<string, StandInMessage>;
  webhooks: Map<string, StandInWebhook>;
  users: Map<string, StandInUser>;
  joinedAt: Map<string, string>;
  commands: Map<string, Record<string, unknown>[]>;
  interactions: Map<string, Interaction>;
  /** Permissions a test denied the bot, per channel id ('ManageWebhooks', 'SendMessages'). */
  denied: Map<string, Set<string>>;
  /** Files served at /attachments/{channel}/{id}/{filename}, keyed by that path. */
  attachments: Map<string, StoredAttachment>;
  /** http://host:port of the stand-in, for attachment URLs; set once listening. */
  origin: string;
  /** Replaced by the gateway; sends a dispatch to every identified connection. */
  dispatch: (t: string, d: Record<string, unknown>, opts?: DispatchOptions) => void;
  messageListeners: Set<(m: StandInMessage) => void>;
}

export function createCore(token: string): Core {
  const nextId = createSnowflakes();
  const applicationId = nextId();
  const botUser: StandInUser = { id: applicationId, username: 'chorus', bot: true, global_name: null };
  const guildId = nextId();
  const ownerId = nextId();
  const core: Core = {
    nextId,
    token,
    applicationId,
    botUser,
    guildId,
    guildName: 'Stand-in Guild',
    ownerId,
    // @everyone shares the guild id; the bot's managed role carries Administrator.
    roles: [
      { id: guildId, name: '@everyone', permissions: '2248473465835073', position: 0, managed: false, mentionable: false },
      { id: nextId(), name: 'chorus', permissions: '8', position: 1, managed: true, mentionable: false },
    ],
    channels: new Map(),
    messages: [],
    messageById: new Map(),
    webhooks: new Map(),
    users: new Map([[botUser.id, botUser]]),
    joinedAt: new Map(),
    commands: new Map(),
    interactions: new Map(),
    denied: new Map(),
    attachments: new Map(),
    origin: '',
    dispatch: () => {},
    messageListeners: new Set(),
  };
  core.users.set(ownerId, { id: ownerId, username: 'owner' });
  const now = new Date().toISOString();
  core.joinedAt.set(botUser.id, now);
  core.joinedAt.set(ownerId, now);
  return core;
}

export function addChannel(core: Core, opts: { name?: string; parentId?: string; thread?: boolean; category?: boolean }): string {
  const id = core.nextId();
  const type = opts.thread ? 11 : opts.category ? 4 : 0;
  const parent = opts.thread ? (opts.parentId ?? firstTextChannel(core)) : (opts.parentId ?? null);
  const channel: StandInChannel = {
    id,
    type,
    name: opts.name ?? (opts.thread ? `thread-${core.channels.size}` : `channel-${core.channels.size}`),
    guild_id: core.guildId,
    parent_id: parent,
    position: core.channels.size,
    ...(opts.thread ? { owner_id: core.ownerId } : {}),
  };
  core.channels.set(id, channel);
  const wire = { ...wireChannel(channel, null), ...(opts.thread ? { newly_created: true } : {}) };
  core.dispatch(opts.thread ? 'THREAD_CREATE' : 'CHANNEL_CREATE', wire, { intent: Intents.Guilds });
  return id;
}

function firstTextChannel(core: Core): string | null {
  for (const c of core.channels.values()) if (c.type === 0) return c.id;
  return null;
}

export function lastMessageId(core: Core, channelId: string): string | null {
  for (let i = core.messages.length - 1; i >= 0; i--) {
    const m = core.messages[i];
    if (m && m.channel_id === channelId && !m.deleted) return m.id;
  }
  return null;
}

export function rememberUser(core: Core, u: StandInUser): StandInUser {
  const known = core.users.get(u.id);
  if (known) return known;
  core.users.set(u.id, u);
  core.joinedAt.set(u.id, new Date().toISOString());
  return u;
}

export function memberRoles(core: Core, userId: string): string[] {
  const role = core.roles.find((r) => r.managed);
  return userId === core.botUser.id && role ? [role.id] : [];
}

export function wireGuild(core: Core): Record<string, unknown> {
  const channels = [...core.channels.values()];
  const members = [core.botUser, ...core.users.values()]
    .filter((u, i, all) => all.findIndex((x) => x.id === u.id) === i && core.joinedAt.has(u.id))
    .map((u) => ({ ...wireMember(core.joinedAt.get(u.id) ?? '', memberRoles(core, u.id)), user: wireUser(u) }));
  return {
    id: core.guildId,
    name: core.guildName,
    icon: null,
    splash: null,
    discovery_splash: null,
    banner: null,
    description: null,
    owner_id: core.ownerId,
    application_id: null,
    region: 'us-west',
    afk_channel_id: null,
    afk_timeout: 300,
    system_channel_id: null,
    system_channel_flags: 0,
    rules_channel_id: null,
    public_updates_channel_id: null,
    safety_alerts_channel_id: null,
    widget_enabled: false,
    verification_level: 0,
    default_message_notifications: 1,
    explicit_content_filter: 0,
    mfa_level: 0,
    nsfw_level: 0,
    premium_tier: 0,
    premium_subscription_count: 0,
    premium_progress_bar_enabled: false,
    preferred_locale: 'en-US',
    max_members: 25000000,
    max_video_channel_users: 25,
    vanity_url_code: null,
    features: [],
    roles: core.roles.map(wireRole),
    emojis: [],
    stickers: [],
    // Gateway-only GUILD_CREATE fields.
    joined_at: core.joinedAt.get(core.botUser.id),
    large: false,
    unavailable: false,
    member_count: members.length,
    voice_states: [],
    members,
    channels: channels.filter((c) => c.type !== 11).map((c) => wireChannel(c, lastMessageId(core, c.id))),
    threads: channels.filter((c) => c.type === 11).map((c) => wireChannel(c, lastMessageId(core, c.id))),
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
    lazy: true,
  };
}

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
}

/** Stores a message and dispatches MESSAGE_CREATE. Throws MentionsError on bad allowed_mentions. */
export function createMessage(core: Core, input: NewMessage): StandInMessage {
  const replied = input.replyTo ? core.messageById.get(input.replyTo) : undefined;
  const pinged = computeMentions(input.content, input.allowedMentions, replied?.author.id);
  const id = core.nextId();
  const msg: StandInMessage = {
    id,
    channel_id: input.channelId,
    guild_id: core.guildId,
    content: input.content,
    author: { ...input.author },
    ...(input.webhookId ? { webhook_id: input.webhookId } : {}),
    ...(input.applicationId ? { application_id: input.applicationId } : {}),
    ...(input.avatarUrl ? { avatar_url: input.avatarUrl } : {}),
    type: replied ? 19 : 0,
    flags: input.flags ?? 0,
    tts: input.tts ?? false,
    pinned: false,
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    ...(replied
      ? { message_reference: { type: 0, message_id: replied.id, channel_id: replied.channel_id, guild_id: core.guildId } }
      : {}),
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
  core.messageById.set(id, msg);
  if (!input.ephemeral) core.dispatch('MESSAGE_CREATE', gatewayMessage(core, msg), { intent: Intents.GuildMessages, message: msg });
  for (const listener of [...core.messageListeners]) listener(msg);
  return msg;
}

export function editMessage(core: Core, msg: StandInMessage, patch: { content?: string; allowedMentions?: AllowedMentions; embeds?: unknown[] }): StandInMessage {
  if (patch.content !== undefined) msg.content = patch.content;
  if (patch.embeds !== undefined) msg.embeds = patch.embeds;
  // Edits re-parse mentions (highlighting), though Discord sends no new notification for them.
  const replied = msg.message_reference ? core.messageById.get(msg.message_reference.message_id) : undefined;
  const pinged = computeMentions(msg.content, patch.allowedMentions, replied?.author.id);
  msg.pinged = pinged;
  msg.mention_everyone = pinged.everyone;
  msg.mentions = pinged.users.map((uid) => core.users.get(uid) ?? { id: uid, username: `user${uid.slice(-4)}` });
  msg.mention_roles = pinged.roles;
  msg.edited_timestamp = new Date().toISOString();
  core.dispatch('MESSAGE_UPDATE', gatewayMessage(core, msg), { intent: Intents.GuildMessages, message: msg });
  return msg;
}

export function deleteMessage(core: Core, msg: StandInMessage): void {
  msg.deleted = true;
  core.dispatch('MESSAGE_DELETE', { id: msg.id, channel_id: msg.channel_id, guild_id: core.guildId }, { intent: Intents.GuildMessages });
}

/** MESSAGE_CREATE/UPDATE payload: the REST shape plus guild_id and, for people, member. */
export function gatewayMessage(core: Core, msg: StandInMessage): Record<string, unknown> {
  const out = wireMessage(msg, (id) => core.messageById.get(id));
  out.guild_id = core.guildId;
  if (!msg.webhook_id) out.member = wireMember(core.joinedAt.get(msg.author.id) ?? msg.timestamp, memberRoles(core, msg.author.id));
  out.mentions = msg.mentions.map((u) => ({
    ...wireUser(u),
    ...(core.joinedAt.has(u.id) ? { member: wireMember(core.joinedAt.get(u.id) ?? '', memberRoles(core, u.id)) } : {}),
  }));
  return out;
}

export function toWire(core: Core, msg: StandInMessage): Record<string, unknown> {
  return wireMessage(msg, (id) => core.messageById.get(id));
}
