// Shared state of the Discord stand-in and the small lookups both REST and the test API use.
// Guilds, channels and messages: guilds.ts and messages.ts.
import { createGuildSnowflakes, createSnowflakes } from './model.ts';
import type { StandInChannel, StandInGuild, StandInMember, StandInMessage, StandInUser, StandInWebhook } from './model.ts';
import { channelPermissions } from './permissions.ts';

/** Gateway intent bits (developers/events/gateway#list-of-intents). */
export const Intents = {
  Guilds: 1 << 0,
  GuildMembers: 1 << 1,
  GuildWebhooks: 1 << 5,
  GuildPresences: 1 << 8,
  GuildMessages: 1 << 9,
  GuildMessageTyping: 1 << 11,
  MessageContent: 1 << 15,
} as const;

export interface DispatchOptions {
  /** Intent a connection needs to receive the event at all. */
  intent?: number;
  /** The message whose content is withheld from connections without MESSAGE_CONTENT. */
  message?: StandInMessage;
  /** The guild whose shard gets the event; defaults to d.guild_id; none → shard 0 only. */
  guildId?: string | null;
}

export interface Interaction {
  id: string;
  token: string;
  channelId: string;
  guildId: string;
  userId: string;
  responded: boolean;
  /** When Discord sent it (core.now()): its deadlines count from here. */
  createdAt: number;
  originalMessageId?: string;
  /** 2 APPLICATION_COMMAND, 4 APPLICATION_COMMAND_AUTOCOMPLETE. */
  type?: number;
  /** Called with the callback body once the bot answers. */
  onCallback?: (body: Record<string, unknown>) => void;
  /** The INTERACTION_CREATE sent, for a replay (Discord sends missed events again on RESUME). */
  payload?: Record<string, unknown>;
}

export interface StoredAttachment {
  contentType: string;
  bytes: Buffer;
}

export interface Core {
  nextId: () => string;
  /** Guild ids, spread over shards like real ones (see createGuildSnowflakes). */
  nextGuildId: () => string;
  token: string;
  applicationId: string;
  botUser: StandInUser;
  /** The default guild (the first one made). */
  guildId: string;
  guilds: Map<string, StandInGuild>;
  /** Owner of every guild the stand-in makes, and of the application. */
  ownerId: string;
  /** The person userSays speaks as by default; a moderator in every guild. */
  defaultUserId: string;
  channels: Map<string, StandInChannel>;
  /** Every message in creation order (messages() without a channel). */
  messages: StandInMessage[];
  /** The same messages per channel, so per-channel reads never scan the whole log. */
  channelMessages: Map<string, StandInMessage[]>;
  messageById: Map<string, StandInMessage>;
  webhooks: Map<string, StandInWebhook>;
  users: Map<string, StandInUser>;
  commands: Map<string, Record<string, unknown>[]>;
  interactions: Map<string, Interaction>;
  /** Files served at /attachments/{channel}/{id}/{filename}, keyed by that path. */
  attachments: Map<string, StoredAttachment>;
  /** http://host:port of the stand-in, for attachment URLs; set once listening. */
  origin: string;
  /** Privileged intents the application has enabled in the (imaginary) Developer Portal. */
  privileged: { messageContent: boolean; guildMembers: boolean; presences: boolean };
  /** Replaced by the gateway; sends a dispatch to the sessions that should get it. */
  dispatch: (t: string, d: Record<string, unknown>, opts?: DispatchOptions) => void;
  /** The stand-in's clock: real time, moved on by advanceClock (so a test of a deadline waits for nothing). */
  now: () => number;
  clockOffsetMs: number;
  /** The largest request Discord takes with files in it (a server's upload limit; 10 MiB unboosted). */
  uploadLimitBytes: number;
  /** Discord's interaction deadlines: a first answer within responseMs, the token for tokenMs. Off: undefined. */
  interactionDeadlines: { responseMs: number; tokenMs: number } | undefined;
  messageListeners: Set<(m: StandInMessage) => void>;
  /** What a person's Discord client is shown (watch() in types.ts); see seen(). */
  watchers: Set<(e: SeenEvent) => void>;
}

/**
 * What a person's Discord client shows as it happens: messages created (ephemeral ones too, as their
 * recipient sees them), edited and deleted, channels and threads made, and "typing…".
 */
export type SeenEvent =
  | { kind: 'message_created' | 'message_edited' | 'message_deleted'; message: StandInMessage }
  | { kind: 'channel_created'; channel: StandInChannel }
  | { kind: 'typing'; channelId: string; userId: string };

/** Tells every watcher; a watcher that throws costs only its own event. */
export function seen(core: Core, e: SeenEvent): void {
  for (const watcher of [...core.watchers]) {
    try {
      watcher(e);
    } catch {
      // A watcher's failure is its own; the stand-in goes on.
    }
  }
}

export function createCore(token: string): Core {
  const nextId = createSnowflakes();
  const applicationId = nextId();
  const botUser: StandInUser = { id: applicationId, username: 'chorus', bot: true, global_name: null };
  const ownerId = nextId();
  const defaultUserId = nextId();
  return {
    nextId,
    nextGuildId: createGuildSnowflakes(),
    token,
    applicationId,
    botUser,
    guildId: '',
    guilds: new Map(),
    ownerId,
    defaultUserId,
    channels: new Map(),
    messages: [],
    channelMessages: new Map(),
    messageById: new Map(),
    webhooks: new Map(),
    users: new Map([
      [botUser.id, botUser],
      [ownerId, { id: ownerId, username: 'owner' }],
      [defaultUserId, { id: defaultUserId, username: 'alice', global_name: 'Alice' }],
    ]),
    commands: new Map(),
    interactions: new Map(),
    attachments: new Map(),
    origin: '',
    privileged: { messageContent: true, guildMembers: false, presences: false },
    dispatch: () => {},
    now() {
      return Date.now() + this.clockOffsetMs;
    },
    clockOffsetMs: 0,
    uploadLimitBytes: 10 * 1024 * 1024,
    interactionDeadlines: { responseMs: 3_000, tokenMs: 15 * 60_000 },
    messageListeners: new Set(),
    watchers: new Set(),
  };
}

/** How an interaction stands against Discord's deadlines: its first answer is late, or its token has expired. */
export function interactionAge(core: Core, i: Interaction): { firstAnswerLate: boolean; tokenExpired: boolean } {
  const d = core.interactionDeadlines;
  const age = core.now() - i.createdAt;
  return { firstAnswerLate: d !== undefined && !i.responded && age > d.responseMs, tokenExpired: d !== undefined && age > d.tokenMs };
}

export function guildById(core: Core, guildId: string): StandInGuild {
  const g = core.guilds.get(guildId);
  if (!g) throw new Error(`stand-in: unknown guild ${guildId}`);
  return g;
}

export function channelById(core: Core, channelId: string): StandInChannel {
  const c = core.channels.get(channelId);
  if (!c) throw new Error(`stand-in: unknown channel ${channelId}`);
  return c;
}

export const guildOfChannel = (core: Core, c: StandInChannel): StandInGuild => guildById(core, c.guild_id);

/** The stored user (first sighting wins) and, when a guild is given, their membership of it. */
export function rememberUser(core: Core, u: StandInUser, guildId?: string): StandInUser {
  let known = core.users.get(u.id);
  if (!known) core.users.set(u.id, (known = u));
  if (guildId) joinGuild(core, guildId, u.id);
  return known;
}

export function joinGuild(core: Core, guildId: string, userId: string, roles: string[] = []): StandInMember {
  const guild = guildById(core, guildId);
  let m = guild.members.get(userId);
  if (!m) guild.members.set(userId, (m = { userId, joinedAt: new Date().toISOString(), roles }));
  return m;
}

export function memberOf(core: Core, guildId: string, userId: string): StandInMember | undefined {
  return core.guilds.get(guildId)?.members.get(userId);
}

export function lastMessageId(core: Core, channelId: string): string | null {
  const list = core.channelMessages.get(channelId);
  if (!list) return null;
  for (let i = list.length - 1; i >= 0; i--) {
    const m = list[i];
    if (m && !m.deleted) return m.id;
  }
  return null;
}

/** A member's permissions in a channel, as Discord computes them (interactions, REST checks). */
export function permissionsIn(core: Core, channel: StandInChannel, userId: string): bigint {
  return channelPermissions(guildOfChannel(core, channel), userId, channel, (id) => core.channels.get(id));
}
