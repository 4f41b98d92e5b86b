// Data model of the Discord stand-in: snowflakes, stored objects and their wire shapes (API v10).

export interface StandInUser {
  id: string;
  username: string;
  global_name?: string | null;
  bot?: boolean;
}

export interface StandInMessage {
  id: string;
  channel_id: string;
  guild_id?: string;
  content: string;
  author: { id: string; username: string; global_name?: string | null; bot?: boolean; avatar?: string | null };
  webhook_id?: string;
  application_id?: string;
  /** Stand-in only: the avatar_url given to a webhook execute (Discord re-hosts it as author.avatar). */
  avatar_url?: string;
  type: number;
  flags: number;
  tts: boolean;
  pinned: boolean;
  timestamp: string;
  edited_timestamp: string | null;
  /** Replies, pins and forwards carry message_id; THREAD_CREATED points at the thread (no message_id). */
  message_reference?: { type?: number; message_id?: string; channel_id: string; guild_id?: string };
  mention_everyone: boolean;
  mentions: StandInUser[];
  mention_roles: string[];
  embeds: unknown[];
  attachments: unknown[];
  components: unknown[];
  nonce?: string | number;
  interaction_metadata?: Record<string, unknown>;
  /** Stand-in only: who this message actually notified (after allowed_mentions filtering). */
  pinged: { everyone: boolean; users: string[]; roles: string[] };
  /** Stand-in only: false once deleted (kept so tests can still inspect it). */
  deleted?: boolean;
}

export interface StandInChannel {
  id: string;
  type: number; // 0 text, 4 category, 11 public thread, 12 private thread
  name: string;
  guild_id: string;
  parent_id: string | null;
  position: number;
  owner_id?: string;
  /** A thread Discord archived (after its auto-archive duration, or by a moderator). */
  archived?: boolean;
  /** A thread a moderator locked: only those with Manage Threads may unarchive it. */
  locked?: boolean;
  permission_overwrites?: { id: string; type: number; allow: string; deny: string }[];
}

export interface StandInWebhook {
  id: string;
  token: string;
  name: string;
  avatar: string | null;
  channel_id: string;
}

export interface StandInRole {
  id: string;
  name: string;
  permissions: string;
  position: number;
  managed: boolean;
  mentionable: boolean;
  color?: number;
  hoist?: boolean;
  /** Discord's role tags, e.g. { bot_id } on a bot's managed role. */
  tags?: Record<string, unknown>;
}

export interface StandInMember {
  userId: string;
  joinedAt: string;
  roles: string[];
}

export interface StandInGuild {
  id: string;
  name: string;
  ownerId: string;
  /** @everyone (id = guild id) first. */
  roles: StandInRole[];
  members: Map<string, StandInMember>;
  /** The guild's channels and threads in creation order. */
  channelIds: string[];
}

export const isThread = (c: { type: number }): boolean => c.type === 10 || c.type === 11 || c.type === 12;

export interface AllowedMentions {
  parse?: string[];
  users?: string[];
  roles?: string[];
  replied_user?: boolean;
}

// Discord epoch (2015-01-01T00:00:00Z).
const DISCORD_EPOCH = 1420070400000n;

/** Snowflake generator: timestamp << 22 | worker/process | increment, strictly increasing. */
export function createSnowflakes(): () => string {
  let lastMs = 0n;
  let increment = 0n;
  return () => {
    let ms = BigInt(Date.now()) - DISCORD_EPOCH;
    if (ms <= lastMs) {
      ms = lastMs;
      increment += 1n;
      if (increment > 0xfffn) {
        ms += 1n;
        increment = 0n;
      }
    } else {
      increment = 0n;
    }
    lastMs = ms;
    return ((ms << 22n) | (1n << 17n) | (1n << 12n) | increment).toString();
  };
}

/**
 * Guild ids: the k-th guild was made k ms after a day ago (worker 2, so never equal to another id).
 * Real guilds are made at different times, so their ids spread over shards ((id >> 22) % shards);
 * ids made in one burst would all share a millisecond and land on one shard.
 */
export function createGuildSnowflakes(): () => string {
  const start = BigInt(Date.now()) - DISCORD_EPOCH - 86_400_000n;
  let k = 0n;
  return () => (((start + k++) << 22n) | (2n << 17n) | (1n << 12n)).toString();
}

export function snowflakeTime(id: string): number {
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}

export function wireUser(u: StandInUser): Record<string, unknown> {
  return {
    id: u.id,
    username: u.username,
    discriminator: '0',
    global_name: u.global_name ?? null,
    avatar: null,
    bot: u.bot ?? false,
    public_flags: 0,
    flags: 0,
  };
}

export function wireChannel(c: StandInChannel, lastMessageId: string | null): Record<string, unknown> {
  const base: Record<string, unknown> = {
    id: c.id,
    type: c.type,
    guild_id: c.guild_id,
    name: c.name,
    parent_id: c.parent_id,
    position: c.position,
    permission_overwrites: c.permission_overwrites ?? [],
    flags: 0,
  };
  if (c.type === 4) return base;
  Object.assign(base, { nsfw: false, topic: null, last_message_id: lastMessageId, rate_limit_per_user: 0 });
  if (isThread(c)) {
    delete base.position;
    delete base.permission_overwrites;
    Object.assign(base, {
      owner_id: c.owner_id,
      message_count: 0,
      member_count: 1,
      total_message_sent: 0,
      thread_metadata: {
        archived: c.archived ?? false,
        auto_archive_duration: 1440,
        archive_timestamp: new Date(snowflakeTime(c.id)).toISOString(),
        locked: c.locked ?? false,
        create_timestamp: new Date(snowflakeTime(c.id)).toISOString(),
        ...(c.type === 12 ? { invitable: true } : {}),
      },
    });
  }
  return base;
}

export function wireRole(r: StandInRole): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    color: r.color ?? 0,
    colors: { primary_color: r.color ?? 0, secondary_color: null, tertiary_color: null },
    hoist: r.hoist ?? false,
    icon: null,
    unicode_emoji: null,
    position: r.position,
    permissions: r.permissions,
    managed: r.managed,
    mentionable: r.mentionable,
    flags: 0,
    ...(r.tags ? { tags: r.tags } : {}),
  };
}

export function wireMember(joinedAt: string, roles: string[]): Record<string, unknown> {
  return {
    roles,
    nick: null,
    avatar: null,
    banner: null,
    joined_at: joinedAt,
    premium_since: null,
    deaf: false,
    mute: false,
    flags: 0,
    pending: false,
    communication_disabled_until: null,
  };
}

export function wireWebhook(w: StandInWebhook, guildId: string, applicationId: string, owner?: StandInUser): Record<string, unknown> {
  const out: Record<string, unknown> = {
    application_id: applicationId,
    avatar: w.avatar,
    channel_id: w.channel_id,
    guild_id: guildId,
    id: w.id,
    name: w.name,
    type: 1,
    token: w.token,
  };
  if (owner) out.user = wireUser(owner);
  return out;
}

/** Message as REST returns it: no guild_id/member, no stand-in bookkeeping. */
export function wireMessage(m: StandInMessage, lookup: (id: string) => StandInMessage | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: m.type,
    content: m.content,
    mentions: m.mentions.map(wireUser),
    mention_roles: m.mention_roles,
    attachments: m.attachments,
    embeds: m.embeds,
    timestamp: m.timestamp,
    edited_timestamp: m.edited_timestamp,
    flags: m.flags,
    components: m.components,
    id: m.id,
    channel_id: m.channel_id,
    author: {
      id: m.author.id,
      username: m.author.username,
      avatar: m.author.avatar ?? null,
      discriminator: m.webhook_id ? '0000' : '0',
      public_flags: 0,
      flags: 0,
      ...(m.author.bot ? { bot: true } : {}),
      global_name: m.webhook_id ? null : (m.author.global_name ?? null),
    },
    pinned: m.pinned,
    mention_everyone: m.mention_everyone,
    tts: m.tts,
  };
  if (m.webhook_id) out.webhook_id = m.webhook_id;
  if (m.application_id) out.application_id = m.application_id;
  if (m.nonce !== undefined) out.nonce = m.nonce;
  if (m.interaction_metadata) out.interaction_metadata = m.interaction_metadata;
  if (m.message_reference) {
    out.message_reference = { type: 0, ...m.message_reference };
    // Only replies (19), thread starters (21) and context-menu commands (23) resolve the reference;
    // Discord sends null when the referenced message was deleted.
    const id = m.message_reference.message_id;
    if (id && (m.type === 19 || m.type === 21 || m.type === 23)) {
      const ref = lookup(id);
      out.referenced_message = ref && !ref.deleted ? wireMessage({ ...ref, message_reference: undefined }, lookup) : null;
    }
  }
  return out;
}

const USER_MENTION = /<@!?(\d{15,25})>/g;
const ROLE_MENTION = /<@&(\d{15,25})>/g;
const EVERYONE = /@(everyone|here)/;

function uniq(xs: string[]): string[] {
  return [...new Set(xs)];
}

export class MentionsError extends Error {
  field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/**
 * Who a message notifies, as Discord computes it: mentions are parsed from content, then filtered
 * by allowed_mentions. With allowed_mentions absent everything parses and a reply pings its target;
 * with it present, replied_user defaults to false.
 */
export function computeMentions(
  content: string,
  allowed: AllowedMentions | undefined,
  repliedAuthorId: string | undefined,
): { everyone: boolean; users: string[]; roles: string[] } {
  const users = uniq([...content.matchAll(USER_MENTION)].map((m) => m[1] ?? ''));
  const roles = uniq([...content.matchAll(ROLE_MENTION)].map((m) => m[1] ?? ''));
  const everyone = EVERYONE.test(content);
  if (!allowed) {
    return { everyone, users: uniq([...users, ...(repliedAuthorId ? [repliedAuthorId] : [])]), roles };
  }
  const parse = allowed.parse ?? [];
  if (parse.includes('users') && allowed.users) throw new MentionsError('allowed_mentions', 'parse:["users"] and users: [ids] are mutually exclusive.');
  if (parse.includes('roles') && allowed.roles) throw new MentionsError('allowed_mentions', 'parse:["roles"] and roles: [ids] are mutually exclusive.');
  const okUsers = parse.includes('users') ? users : users.filter((id) => allowed.users?.includes(id));
  const okRoles = parse.includes('roles') ? roles : roles.filter((id) => allowed.roles?.includes(id));
  const withReply = allowed.replied_user && repliedAuthorId ? [...okUsers, repliedAuthorId] : okUsers;
  return { everyone: everyone && parse.includes('everyone'), users: uniq(withReply), roles: okRoles };
}
