// The public API of the Discord stand-in (startDiscordStandIn in server.ts).
import type { AttachmentInput } from './cdn.ts';
import type { Fault, FaultFilter } from './faults.ts';
import type { SeenEvent } from './core.ts';
import type { StandInChannel, StandInMessage } from './model.ts';
import type { PermissionName } from './permissions.ts';
import type { RestCall } from './rest.ts';
import type { OverwriteTarget } from './roles.ts';
import type { GatewayStats } from './sessions.ts';

export type Author = { id: string; username: string; global_name?: string | null };

/** Any Discord permission name, as discord.js spells it ('SendMessages', 'ManageWebhooks', ...). */
export type DeniablePermission = PermissionName;

export interface StandInOptions {
  token?: string;
  /**
   * Answer 429 like Discord: 50/s global, 5 per 5 s per channel for bot posts, 5 per 2 s per webhook,
   * and 30 webhook posts a minute per channel, whichever webhooks send them.
   */
  enforceRateLimits?: boolean;
  /** The per-channel webhook limit, smaller for tests (default 30 per 60 s). */
  webhookChannelLimit?: { limit: number; windowMs: number };
  /** Gateway heartbeat interval sent in HELLO; Discord uses ~41250 ms. */
  heartbeatIntervalMs?: number;
  /** GET /gateway/bot's recommended shards (default 1). */
  recommendedShards?: number;
  /** Close 4011 (Sharding required) when a shard would hold more guilds than this; Discord's is 2,500. Off by default. */
  maxGuildsPerShard?: number;
  /** The privileged MESSAGE_CONTENT intent is enabled for the app (default true); else IDENTIFY asking for it gets 4014. */
  messageContentIntent?: boolean;
  /** The privileged GUILD_MEMBERS intent is enabled (default false). */
  guildMembersIntent?: boolean;
  /** The privileged GUILD_PRESENCES intent is enabled (default false). */
  presenceIntent?: boolean;
  /** How long a session stays resumable after its socket closed with a code other than 1000/1001 (default 5 min). */
  resumeWindowMs?: number;
  /** Never answer IDENTIFY with READY (to test a client's READY timeout); see also withholdReady(). */
  withholdReady?: boolean;
  /**
   * Discord's interaction deadlines (default on: a first answer within 3 s, else 404 10062; the
   * token for 15 minutes, else 401 50027 on its webhook routes and 10062 on the callback). false: none.
   */
  interactionDeadlines?: { responseMs: number; tokenMs: number } | false;
  /** The largest request with files Discord takes (default 10 MiB; a boosted server's is larger): else 413, 40005. */
  uploadLimitBytes?: number;
}

export interface DiscordStandIn {
  restUrl: string;
  gatewayUrl: string;
  token: string;
  botUser: { id: string; username: string };
  applicationId: string;
  /** The default guild and its first text channel. */
  guildId: string;
  channelId: string;
  /** A person in every guild (a moderator there), the default author of userSays. */
  defaultUser: { id: string; username: string };

  /** Another guild the bot is in (GUILD_CREATE to its shard); channels: text channels to make (default 1). */
  addGuild(opts?: { name?: string; channels?: number }): { guildId: string; channelId: string };
  addChannel(opts?: { guildId?: string; name?: string; parentId?: string; thread?: boolean; category?: boolean }): string;

  /** extra is merged into the MESSAGE_CREATE payload only (e.g. fields other servers send as null). */
  userSays(opts: { channelId?: string; content: string; author?: Author; replyTo?: string; attachments?: AttachmentInput[]; extra?: Record<string, unknown> }): Promise<StandInMessage>;
  /** A person edits their message: MESSAGE_UPDATE with edited_timestamp, mentions re-parsed. */
  userEdits(messageId: string, content: string): Promise<StandInMessage>;
  /** A person deletes a message: MESSAGE_DELETE {id, channel_id, guild_id}. */
  userDeletes(messageId: string): Promise<void>;
  /** A person starts a public thread without a message: THREAD_CREATE, then THREAD_CREATED (type 18) in the parent. */
  userCreatesThread(opts: { channelId?: string; name: string; author?: Author }): Promise<{ threadId: string; message: StandInMessage }>;
  /** A system message (6 pin: messageId required; 7 member join; 8 boost; 18 thread created: threadId) as MESSAGE_CREATE. */
  systemMessage(opts: { channelId?: string; type: number; content?: string; author?: Author; messageId?: string; threadId?: string }): Promise<StandInMessage>;
  /**
   * Dispatches INTERACTION_CREATE for a slash command; the bot answers via the interaction routes.
   * options are Discord's wire options (subcommands: [{ type: 1, name, options: [...] }]);
   * permissions overrides the invoking member's computed bit set (decimal string), e.g. '0'.
   */
  userRunsCommand(opts: { name: string; options?: unknown[]; channelId?: string; author?: Author; permissions?: string }): Promise<{ id: string; token: string }>;
  /**
   * Dispatches an APPLICATION_COMMAND_AUTOCOMPLETE interaction (type 4); one option (at any depth)
   * must carry focused: true. Resolves with the choices the bot answers (callback type 8).
   */
  userAutocompletes(opts: { name: string; options: unknown[]; channelId?: string; author?: Author; permissions?: string }): Promise<{ name: string; value: string | number }[]>;
  /** Sends an interaction's INTERACTION_CREATE again, as Discord replays events a resumed session missed. */
  replayInteraction(token: string): void;
  /** Archives a thread, as Discord does after its auto-archive duration (THREAD_UPDATE). */
  archiveThread(threadId: string): void;
  /** Locks and archives a thread, as a moderator does: only Manage Threads may reopen it. */
  lockThread(threadId: string): void;
  /** Moves the stand-in's clock on (interaction deadlines count by it), without waiting. */
  advanceClock(ms: number): void;
  /** Deletes a channel (with its threads and webhooks) or a thread, as a member with Manage Channels does. */
  deleteChannel(channelId: string): void;
  /** Sends any dispatch, unfiltered by intents, to the shard of guildId (else of d.guild_id; no guild → shard 0). */
  dispatchRaw(t: string, d: Record<string, unknown>, opts?: { guildId?: string }): void;

  /** Denies a permission in a channel to the bot (two arguments) or to a member or role (CHANNEL_UPDATE). */
  denyPermission(channelId: string, permissionOrTarget: DeniablePermission | OverwriteTarget, permission?: DeniablePermission): void;
  /** Allows a permission in a channel to a member or role (CHANNEL_UPDATE). */
  allowPermission(channelId: string, target: OverwriteTarget, permission: DeniablePermission): void;
  /** A member's permissions in a channel as Discord computes them (decimal string). */
  permissionsIn(channelId: string, userId: string): string;
  /** Adds a guild role (GUILD_ROLE_CREATE); returns its id. */
  addRole(opts: { guildId?: string; name: string; permissions?: string | bigint | DeniablePermission[]; mentionable?: boolean }): string;
  /** Changes a role (GUILD_ROLE_UPDATE). */
  editRole(roleId: string, patch: { name?: string; permissions?: string | bigint | DeniablePermission[]; mentionable?: boolean }): void;
  /** Deletes a role (GUILD_ROLE_DELETE). */
  deleteRole(roleId: string): void;
  /** Gives a member a role of the role's guild (GUILD_MEMBER_UPDATE; for the bot regardless of intents). */
  giveRole(userId: string, roleId: string): void;
  takeRole(userId: string, roleId: string): void;
  /** A guild's roles (default guild when omitted), @everyone first. */
  roles(guildId?: string): { id: string; name: string; mentionable: boolean }[];

  messages(channelId?: string): StandInMessage[];
  /** A guild's channels, categories and threads (default guild when omitted), in creation order. */
  channels(guildId?: string): StandInChannel[];
  /**
   * Follows what a person's Discord client is shown as it happens (messages created — ephemeral
   * ones too, as their recipient sees them — edited, deleted; channels and threads made; typing).
   * Returns a function that stops following.
   */
  watch(watcher: (e: SeenEvent) => void): () => void;
  restCalls: RestCall[];
  nextMessage(filter?: (m: StandInMessage) => boolean): Promise<StandInMessage>;
  nextRestCall(filter?: (c: RestCall) => boolean): Promise<RestCall>;
  /** Awaited after a REST call is handled and before its answer is sent (to hold or drop answers). */
  beforeRespond: ((call: RestCall) => Promise<void> | void) | undefined;
  /**
   * The next request the filter accepts (path as RestCall.path: /api/v10/...) gets this fault:
   * a status and body (Discord's shape by default), or { drop: true }: the connection closes
   * unanswered. accept: true carries the request out first. Resolves once the fault fired.
   */
  failNext(filter: FaultFilter, fault: Fault): Promise<RestCall>;
  /** Responses Discord counts toward its 10,000 per 10 minutes ban: 401, 403 and 429 except shared-scope 429s. */
  invalidRequests(): number;

  whenIdentified(): Promise<void>;
  /** Sends op 7 RECONNECT to every connection (the client should resume). */
  requestReconnect(): void;
  /** Closes every gateway socket from the server side (no code: TCP just ends, the client sees 1006); sessions stay resumable. */
  dropConnections(code?: number): void;
  /** Ends every session: connected ones get op 9 (d: false), and any RESUME of them gets op 9 too. */
  invalidateSessions(): void;
  /** While on, IDENTIFY is never answered with READY. */
  withholdReady(on?: boolean): void;
  /** IDENTIFY/RESUME counts and open connections, e.g. to assert a restarted client resumed. */
  gatewayStats(): GatewayStats;
  /** The developer portal's Reset Token: the old token is refused everywhere; returns the new one. */
  resetToken(): string;
  close(): Promise<void>;
}
