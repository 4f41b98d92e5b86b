// A local stand-in for Discord (REST v10 + JSON gateway) that the real discord.js Client and
// @discordjs/rest can talk to. One guild, one text channel by default; everything in memory.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeAttachments, serveAttachment } from './cdn.ts';
import type { AttachmentInput } from './cdn.ts';
import { addChannel, createCore, createMessage, deleteMessage, editMessage, Intents, rememberUser } from './core.ts';
import { createGateway } from './gateway.ts';
import { dispatchInteraction, hasFocused, PERMISSION_BITS } from './interactions.ts';
import type { DeniablePermission } from './interactions.ts';
import { wireChannel } from './model.ts';
import type { StandInMessage, StandInUser } from './model.ts';
import { createRest } from './rest.ts';
import type { RestCall } from './rest.ts';

export type { StandInMessage, StandInUser, StandInChannel, StandInWebhook } from './model.ts';
export type { RestCall } from './rest.ts';
export type { AttachmentInput } from './cdn.ts';
export type { DeniablePermission } from './interactions.ts';
export { maxPerSecond, count429 } from './ratelimit.ts';

type Author = { id: string; username: string; global_name?: string | null };

export interface StandInOptions {
  token?: string;
  /** Answer 429 like Discord (5 per 2 s per webhook, 5 per 5 s per channel, 50/s global). */
  enforceRateLimits?: boolean;
  /** Gateway heartbeat interval sent in HELLO; Discord uses ~41250 ms. */
  heartbeatIntervalMs?: number;
}

export interface DiscordStandIn {
  restUrl: string;
  gatewayUrl: string;
  token: string;
  botUser: { id: string; username: string };
  applicationId: string;
  guildId: string;
  channelId: string;
  /** A person in the guild, the default author of userSays. */
  defaultUser: { id: string; username: string };
  addChannel(opts?: { name?: string; parentId?: string; thread?: boolean; category?: boolean }): string;
  userSays(opts: { channelId?: string; content: string; author?: Author; replyTo?: string; attachments?: AttachmentInput[] }): Promise<StandInMessage>;
  /** A person edits their message: MESSAGE_UPDATE with edited_timestamp, mentions re-parsed. */
  userEdits(messageId: string, content: string): Promise<StandInMessage>;
  /** A person deletes a message: MESSAGE_DELETE {id, channel_id, guild_id}. */
  userDeletes(messageId: string): Promise<void>;
  /**
   * Dispatches INTERACTION_CREATE for a slash command; the bot answers via the interaction routes.
   * options are Discord's wire options (subcommands: [{ type: 1, name, options: [...] }]);
   * permissions is the invoking member's bit set (decimal string), e.g. '0' for no Manage Channels.
   */
  userRunsCommand(opts: { name: string; options?: unknown[]; channelId?: string; author?: Author; permissions?: string }): Promise<{ id: string; token: string }>;
  /**
   * Dispatches an APPLICATION_COMMAND_AUTOCOMPLETE interaction (type 4); one option (at any depth)
   * must carry focused: true. Resolves with the choices the bot answers (callback type 8).
   */
  userAutocompletes(opts: { name: string; options: unknown[]; channelId?: string; author?: Author; permissions?: string }): Promise<{ name: string; value: string | number }[]>;
  /** The bot is denied this permission in the channel: the routes that need it answer 403 50013. */
  denyPermission(channelId: string, permission: DeniablePermission): void;
  /** The guild's roles, @everyone first. */
  roles(): { id: string; name: string; mentionable: boolean }[];
  messages(channelId?: string): StandInMessage[];
  restCalls: RestCall[];
  nextMessage(filter?: (m: StandInMessage) => boolean): Promise<StandInMessage>;
  nextRestCall(filter?: (c: RestCall) => boolean): Promise<RestCall>;
  whenIdentified(): Promise<void>;
  /** Awaited after a REST call is handled and before its answer is sent (to hold or drop answers). */
  beforeRespond: ((call: RestCall) => Promise<void> | void) | undefined;
  /** Sends op 7 RECONNECT to every connection (the client should resume). */
  requestReconnect(): void;
  close(): Promise<void>;
}

export async function startDiscordStandIn(opts: StandInOptions = {}): Promise<DiscordStandIn> {
  const core = createCore(opts.token ?? '');
  // A real bot token starts with the base64 of the application id; chorus reads it from there.
  if (!opts.token) core.token = `${Buffer.from(core.applicationId).toString('base64')}.GstndN.${'x'.repeat(38)}`;
  const token = core.token;
  const channelId = addChannel(core, { name: 'general' });
  const defaultUser = rememberUser(core, { id: core.nextId(), username: 'alice', global_name: 'Alice' });

  const hooks: { beforeRespond: ((call: RestCall) => Promise<void> | void) | undefined } = { beforeRespond: undefined };
  const rest = createRest(core, { enforceRateLimits: opts.enforceRateLimits ?? false, gatewayUrl: () => gateway.url, beforeRespond: () => hooks.beforeRespond });
  const server = createServer((req, res) => {
    if (serveAttachment(core, req, res)) return;
    rest.handle(req, res).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  core.origin = `http://127.0.0.1:${port}`;
  const gateway = createGateway(core, `ws://127.0.0.1:${port}`, opts.heartbeatIntervalMs ?? 41_250);
  server.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head));

  function waitFor<T>(listeners: Set<(x: T) => void>, filter?: (x: T) => boolean): Promise<T> {
    return new Promise((resolve) => {
      const listener = (x: T) => {
        if (filter && !filter(x)) return;
        listeners.delete(listener);
        resolve(x);
      };
      listeners.add(listener);
    });
  }

  const known = (author?: { id: string; username: string; global_name?: string | null }): StandInUser =>
    author ? rememberUser(core, { id: author.id, username: author.username, global_name: author.global_name ?? null }) : defaultUser;

  let closed = false;
  return {
    get beforeRespond() {
      return hooks.beforeRespond;
    },
    set beforeRespond(fn) {
      hooks.beforeRespond = fn;
    },
    restUrl: `http://127.0.0.1:${port}/api`,
    gatewayUrl: gateway.url,
    token,
    botUser: { id: core.botUser.id, username: core.botUser.username },
    applicationId: core.applicationId,
    guildId: core.guildId,
    channelId,
    defaultUser: { id: defaultUser.id, username: defaultUser.username },
    addChannel: (o = {}) => addChannel(core, o),
    async userSays(o) {
      const chan = o.channelId ?? channelId;
      if (!core.channels.has(chan)) throw new Error(`stand-in: unknown channel ${chan}`);
      if (o.replyTo && !core.messageById.has(o.replyTo)) throw new Error(`stand-in: unknown message ${o.replyTo}`);
      const attachments = o.attachments?.length ? makeAttachments(core, chan, o.attachments) : undefined;
      return createMessage(core, { channelId: chan, content: o.content, author: known(o.author), replyTo: o.replyTo, attachments });
    },
    async userEdits(messageId, content) {
      const m = core.messageById.get(messageId);
      if (!m || m.deleted) throw new Error(`stand-in: unknown message ${messageId}`);
      return editMessage(core, m, { content });
    },
    async userDeletes(messageId) {
      const m = core.messageById.get(messageId);
      if (!m || m.deleted) throw new Error(`stand-in: unknown message ${messageId}`);
      deleteMessage(core, m);
    },
    async userRunsCommand(o) {
      const i = dispatchInteraction(core, { type: 2, name: o.name, options: o.options, channelId: o.channelId ?? channelId, user: known(o.author), permissions: o.permissions });
      return { id: i.id, token: i.token };
    },
    userAutocompletes(o) {
      if (!hasFocused(o.options)) throw new Error('stand-in: an autocomplete needs an option with focused: true');
      return new Promise((resolve) => {
        dispatchInteraction(core, {
          type: 4,
          name: o.name,
          options: o.options,
          channelId: o.channelId ?? channelId,
          user: known(o.author),
          permissions: o.permissions,
          onCallback: (body) => resolve((((body.data ?? {}) as { choices?: unknown }).choices ?? []) as { name: string; value: string | number }[]),
        });
      });
    },
    denyPermission(chan, permission) {
      const c = core.channels.get(chan);
      if (!c) throw new Error(`stand-in: unknown channel ${chan}`);
      const denied = core.denied.get(chan) ?? new Set<string>();
      denied.add(permission);
      core.denied.set(chan, denied);
      // Recorded as a member overwrite for the bot, so the client's cache sees it too.
      const bit = PERMISSION_BITS[permission];
      const others = (c.permission_overwrites ?? []).filter((ow) => ow.id !== core.botUser.id);
      const mine = (c.permission_overwrites ?? []).find((ow) => ow.id === core.botUser.id);
      const deny = (BigInt(mine?.deny ?? '0') | bit).toString();
      c.permission_overwrites = [...others, { id: core.botUser.id, type: 1, allow: '0', deny }];
      core.dispatch(c.type === 11 ? 'THREAD_UPDATE' : 'CHANNEL_UPDATE', wireChannel(c, null), { intent: Intents.Guilds });
    },
    roles: () => core.roles.map((r) => ({ id: r.id, name: r.name, mentionable: r.mentionable })),
    messages: (chan) => core.messages.filter((m) => chan === undefined || m.channel_id === chan),
    restCalls: rest.restCalls,
    nextMessage: (filter) => waitFor(core.messageListeners, filter),
    nextRestCall: (filter) => waitFor(rest.callListeners, filter),
    whenIdentified: () => gateway.whenIdentified(),
    requestReconnect: () => gateway.requestReconnect(),
    async close() {
      if (closed) return;
      closed = true;
      gateway.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

// Gateway intent bits the stand-in honours.
export { Intents };
