// A local stand-in for Discord (REST v10 + JSON gateway) that the real discord.js Client and
// @discordjs/rest can talk to. One guild, one text channel by default; everything in memory.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { addChannel, createCore, createMessage, Intents, rememberUser } from './discord-core.ts';
import { createGateway } from './discord-gateway.ts';
import { wireMember, wireUser } from './discord-model.ts';
import type { StandInMessage, StandInUser } from './discord-model.ts';
import { createRest } from './discord-rest.ts';
import type { RestCall } from './discord-rest.ts';

export type { StandInMessage, StandInUser, StandInChannel, StandInWebhook } from './discord-model.ts';
export type { RestCall } from './discord-rest.ts';

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
  userSays(opts: { channelId?: string; content: string; author?: { id: string; username: string; global_name?: string | null }; replyTo?: string }): Promise<StandInMessage>;
  /** Dispatches INTERACTION_CREATE for a slash command; the bot answers via the interaction routes. */
  userRunsCommand(opts: { name: string; options?: unknown[]; channelId?: string; author?: { id: string; username: string } }): Promise<{ id: string; token: string }>;
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
    rest.handle(req, res).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
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
      return createMessage(core, { channelId: chan, content: o.content, author: known(o.author), replyTo: o.replyTo });
    },
    async userRunsCommand(o) {
      const user = known(o.author);
      const chan = core.channels.get(o.channelId ?? channelId);
      if (!chan) throw new Error('stand-in: unknown channel');
      const command = (core.commands.get(core.guildId) ?? []).find((c) => c.name === o.name);
      const interaction = { id: core.nextId(), token: `aW50ZXJhY3Rpb246${core.nextId()}`, channelId: chan.id, userId: user.id, responded: false };
      core.interactions.set(interaction.token, interaction);
      core.dispatch('INTERACTION_CREATE', {
        id: interaction.id,
        application_id: core.applicationId,
        type: 2,
        data: { id: (command?.id as string | undefined) ?? core.nextId(), name: o.name, type: 1, options: o.options ?? [], guild_id: core.guildId },
        guild_id: core.guildId,
        guild: { id: core.guildId, locale: 'en-US', features: [] },
        channel_id: chan.id,
        channel: { id: chan.id, type: chan.type, name: chan.name, guild_id: core.guildId, parent_id: chan.parent_id, permissions: '2248473465835073', flags: 0 },
        member: { ...wireMember(core.joinedAt.get(user.id) ?? '', []), user: wireUser(user), permissions: '2248473465835073' },
        token: interaction.token,
        version: 1,
        app_permissions: '2248473465835073',
        locale: 'en-US',
        guild_locale: 'en-US',
        entitlements: [],
        authorizing_integration_owners: { '0': core.guildId },
        context: 0,
        attachment_size_limit: 10485760,
      });
      return { id: interaction.id, token: interaction.token };
    },
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
