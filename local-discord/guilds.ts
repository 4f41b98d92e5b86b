// Guilds and channels of the stand-in: making them, and their GUILD_CREATE shape.
import { guildById, Intents, joinGuild, lastMessageId, seen } from './core.ts';
import type { Core } from './core.ts';
import { isThread, wireChannel, wireMember, wireRole, wireUser } from './model.ts';
import type { StandInChannel, StandInGuild } from './model.ts';
import { BOT_PERMISSIONS, EVERYONE_PERMISSIONS, MODERATOR_PERMISSIONS } from './permissions.ts';

export interface NewGuild {
  name?: string;
  /** Text channels to make; the first is named general. Default 1. */
  channels?: number;
}

/**
 * Makes a guild the bot is in: @everyone, a moderator role (held by the default person), the bot's
 * managed role, and its text channels; then GUILD_CREATE, as Discord sends when a bot joins.
 */
export function createGuild(core: Core, opts: NewGuild = {}): { guild: StandInGuild; channelIds: string[] } {
  const id = core.nextGuildId();
  const moderator = core.nextId();
  const botRole = core.nextId();
  const guild: StandInGuild = {
    id,
    name: opts.name ?? (core.guilds.size === 0 ? 'Stand-in Guild' : `Guild ${core.guilds.size}`),
    ownerId: core.ownerId,
    roles: [
      { id, name: '@everyone', permissions: EVERYONE_PERMISSIONS.toString(), position: 0, managed: false, mentionable: false },
      { id: moderator, name: 'moderator', permissions: MODERATOR_PERMISSIONS.toString(), position: 1, managed: false, mentionable: false },
      { id: botRole, name: core.botUser.username, permissions: BOT_PERMISSIONS.toString(), position: 2, managed: true, mentionable: false, tags: { bot_id: core.botUser.id } },
    ],
    members: new Map(),
    channelIds: [],
  };
  core.guilds.set(id, guild);
  joinGuild(core, id, core.botUser.id, [botRole]);
  joinGuild(core, id, core.ownerId);
  joinGuild(core, id, core.defaultUserId, [moderator]);
  const channelIds: string[] = [];
  const count = opts.channels ?? 1;
  for (let i = 0; i < count; i++) {
    channelIds.push(addChannel(core, { guildId: id, name: i === 0 ? 'general' : `channel-${i}` }, false));
  }
  core.dispatch('GUILD_CREATE', wireGuild(core, guild), { intent: Intents.Guilds, guildId: id });
  return { guild, channelIds };
}

export interface NewChannel {
  guildId?: string;
  name?: string;
  parentId?: string;
  thread?: boolean;
  category?: boolean;
}

/** Adds a text channel, category or public thread; dispatches CHANNEL_CREATE / THREAD_CREATE. */
export function addChannel(core: Core, opts: NewChannel, announce = true): string {
  if (opts.thread) {
    const parentId = opts.parentId ?? firstTextChannel(core, guildById(core, opts.guildId ?? core.guildId));
    if (!parentId) throw new Error('stand-in: a thread needs a text channel');
    return createThread(core, { parentId, name: opts.name, ownerId: core.ownerId, type: 11 }).id;
  }
  const guild = guildById(core, opts.guildId ?? core.guildId);
  const channel: StandInChannel = {
    id: core.nextId(),
    type: opts.category ? 4 : 0,
    name: opts.name ?? `channel-${guild.channelIds.length}`,
    guild_id: guild.id,
    parent_id: opts.parentId ?? null,
    position: guild.channelIds.length,
  };
  store(core, guild, channel);
  if (announce) core.dispatch('CHANNEL_CREATE', wireChannel(channel, null), { intent: Intents.Guilds, guildId: guild.id });
  return channel.id;
}

/** A thread in parentId (type 11 public, 12 private); dispatches THREAD_CREATE with newly_created. */
export function createThread(core: Core, opts: { parentId: string; name?: string; ownerId: string; type: 11 | 12 }): StandInChannel {
  const parent = core.channels.get(opts.parentId);
  if (!parent) throw new Error(`stand-in: unknown channel ${opts.parentId}`);
  const guild = guildById(core, parent.guild_id);
  const thread: StandInChannel = {
    id: core.nextId(),
    type: opts.type,
    name: opts.name ?? `thread-${guild.channelIds.length}`,
    guild_id: guild.id,
    parent_id: parent.id,
    position: 0,
    owner_id: opts.ownerId,
  };
  store(core, guild, thread);
  core.dispatch('THREAD_CREATE', { ...wireChannel(thread, null), newly_created: true }, { intent: Intents.Guilds, guildId: guild.id });
  return thread;
}

/**
 * Deletes a channel or thread as Discord does: a channel's threads and webhooks go with it; the
 * gateway is told CHANNEL_DELETE (the channel) or THREAD_DELETE (id, guild, parent and type only).
 */
export function deleteChannel(core: Core, channelId: string): void {
  const c = core.channels.get(channelId);
  if (!c) throw new Error(`stand-in: unknown channel ${channelId}`);
  const guild = guildById(core, c.guild_id);
  const gone = [c, ...[...core.channels.values()].filter((t) => t.parent_id === c.id && (t.type === 11 || t.type === 12))];
  for (const g of gone) {
    core.channels.delete(g.id);
    core.channelMessages.delete(g.id);
    guild.channelIds = guild.channelIds.filter((id) => id !== g.id);
    for (const [id, w] of core.webhooks) if (w.channel_id === g.id) core.webhooks.delete(id);
  }
  if (c.type === 11 || c.type === 12) core.dispatch('THREAD_DELETE', { id: c.id, guild_id: guild.id, parent_id: c.parent_id, type: c.type }, { intent: Intents.Guilds, guildId: guild.id });
  else core.dispatch('CHANNEL_DELETE', wireChannel(c, null), { intent: Intents.Guilds, guildId: guild.id });
}

function store(core: Core, guild: StandInGuild, c: StandInChannel): void {
  core.channels.set(c.id, c);
  core.channelMessages.set(c.id, []);
  guild.channelIds.push(c.id);
  seen(core, { kind: 'channel_created', channel: c });
}

export function firstTextChannel(core: Core, guild: StandInGuild): string | null {
  return guild.channelIds.find((id) => core.channels.get(id)?.type === 0) ?? null;
}

/** The member object of gateway payloads (GUILD_CREATE members, MESSAGE_CREATE member, ...). */
export function wireGuildMember(guild: StandInGuild, userId: string): Record<string, unknown> | undefined {
  const m = guild.members.get(userId);
  return m ? wireMember(m.joinedAt, m.roles) : undefined;
}

export function wireGuild(core: Core, guild: StandInGuild): Record<string, unknown> {
  const channels = guild.channelIds.map((id) => core.channels.get(id)).filter((c) => c !== undefined);
  const members = [...guild.members.values()].map((m) => {
    const user = core.users.get(m.userId) ?? { id: m.userId, username: `user${m.userId.slice(-4)}` };
    return { ...wireMember(m.joinedAt, m.roles), user: wireUser(user) };
  });
  return {
    id: guild.id,
    name: guild.name,
    icon: null,
    splash: null,
    discovery_splash: null,
    banner: null,
    description: null,
    owner_id: guild.ownerId,
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
    roles: guild.roles.map(wireRole),
    emojis: [],
    stickers: [],
    // Gateway-only GUILD_CREATE fields.
    joined_at: guild.members.get(core.botUser.id)?.joinedAt,
    large: false,
    unavailable: false,
    member_count: members.length,
    voice_states: [],
    members,
    channels: channels.filter((c) => !isThread(c)).map((c) => wireChannel(c, lastMessageId(core, c.id))),
    threads: channels.filter(isThread).map((c) => wireChannel(c, lastMessageId(core, c.id))),
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
    lazy: true,
  };
}
