// A local stand-in for Discord (REST v10 + JSON gateway) that the real discord.js Client and
// @discordjs/rest can talk to. One guild with one text channel by default, more on request
// (sharded like Discord); everything in memory. The API is described in types.ts.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveAttachment } from './cdn.ts';
import { channelById, createCore, guildById, Intents } from './core.ts';
import { setArchived } from './system.ts';
import { createGateway } from './gateway.ts';
import { addChannel, createGuild, deleteChannel } from './guilds.ts';
import { createPeople } from './people.ts';
import { createRest } from './rest.ts';
import type { RestCall } from './rest.ts';
import { createRoleApi } from './role-api.ts';
import type { DiscordStandIn, StandInOptions } from './types.ts';

export type { StandInMessage, StandInUser, StandInChannel, StandInWebhook } from './model.ts';
export type { RestCall } from './rest.ts';
export type { AttachmentInput } from './cdn.ts';
export type { DiscordStandIn, StandInOptions, DeniablePermission, Author } from './types.ts';
export type { Fault, FaultFilter } from './faults.ts';
export type { GatewayStats } from './sessions.ts';
export type { SeenEvent } from './core.ts';
export type { PermissionName } from './permissions.ts';
export { maxPerSecond, count429 } from './ratelimit.ts';
export { shardOf } from './sessions.ts';

export async function startDiscordStandIn(opts: StandInOptions = {}): Promise<DiscordStandIn> {
  const core = createCore(opts.token ?? '');
  // A real bot token starts with the base64 of the application id; chorus reads it from there.
  // Discord does not document the layout, so any token given as an option works as well.
  if (!opts.token) core.token = `${Buffer.from(core.applicationId).toString('base64')}.GstndN.${'x'.repeat(38)}`;
  if (opts.interactionDeadlines !== undefined) core.interactionDeadlines = opts.interactionDeadlines || undefined;
  if (opts.uploadLimitBytes !== undefined) core.uploadLimitBytes = opts.uploadLimitBytes;
  core.privileged = { messageContent: opts.messageContentIntent ?? true, guildMembers: opts.guildMembersIntent ?? false, presences: opts.presenceIntent ?? false };
  const main = createGuild(core, { channels: 1 });
  core.guildId = main.guild.id;
  const channelId = main.channelIds[0] ?? '';

  const hooks: { beforeRespond: ((call: RestCall) => Promise<void> | void) | undefined } = { beforeRespond: undefined };
  const rest = createRest(core, {
    enforceRateLimits: opts.enforceRateLimits ?? false,
    ...(opts.webhookChannelLimit ? { webhookChannelLimit: { ...opts.webhookChannelLimit, scope: 'shared' as const } } : {}),
    gatewayUrl: () => gateway.url,
    recommendedShards: opts.recommendedShards ?? 1,
    sessionStartLimit: () => gateway.sessionStartLimit(),
    verifyKey: randomBytes(32).toString('hex'),
    beforeRespond: () => hooks.beforeRespond,
  });
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
  const gateway = createGateway(core, `ws://127.0.0.1:${port}`, {
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 41_250,
    resumeWindowMs: opts.resumeWindowMs ?? 5 * 60_000,
    maxGuildsPerShard: opts.maxGuildsPerShard,
    withholdReady: opts.withholdReady ?? false,
  });
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

  const defaultUser = core.users.get(core.defaultUserId) ?? { id: core.defaultUserId, username: 'alice' };
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
    token: core.token,
    botUser: { id: core.botUser.id, username: core.botUser.username },
    applicationId: core.applicationId,
    guildId: core.guildId,
    channelId,
    defaultUser: { id: defaultUser.id, username: defaultUser.username },
    addGuild(o = {}) {
      const made = createGuild(core, { name: o.name, channels: Math.max(1, o.channels ?? 1) });
      return { guildId: made.guild.id, channelId: made.channelIds[0] ?? '' };
    },
    addChannel: (o = {}) => addChannel(core, o),
    archiveThread: (threadId) => setArchived(core, channelById(core, threadId), true),
    lockThread: (threadId) => {
      const thread = channelById(core, threadId);
      thread.locked = true;
      if (thread.archived) thread.archived = false; // so that archiving tells the lock (THREAD_UPDATE)
      setArchived(core, thread, true);
    },
    deleteChannel: (channelId) => deleteChannel(core, channelId),
    advanceClock: (ms) => void (core.clockOffsetMs += ms),
    replayInteraction: (token) => {
      const i = core.interactions.get(token);
      if (!i?.payload) throw new Error(`stand-in: no interaction ${token}`);
      core.dispatch('INTERACTION_CREATE', i.payload, { guildId: i.guildId });
    },
    ...createPeople(core, channelId),
    ...createRoleApi(core),
    dispatchRaw: (t, d, o = {}) => core.dispatch(t, d, o.guildId !== undefined ? { guildId: o.guildId } : {}),
    roles: (guildId) => guildById(core, guildId ?? core.guildId).roles.map((r) => ({ id: r.id, name: r.name, mentionable: r.mentionable })),
    messages: (chan) => (chan === undefined ? [...core.messages] : [...(core.channelMessages.get(chan) ?? [])]),
    channels: (guildId) => guildById(core, guildId ?? core.guildId).channelIds.flatMap((id) => core.channels.get(id) ?? []),
    watch(watcher) {
      core.watchers.add(watcher);
      return () => void core.watchers.delete(watcher);
    },
    restCalls: rest.restCalls,
    nextMessage: (filter) => waitFor(core.messageListeners, filter),
    nextRestCall: (filter) => waitFor(rest.callListeners, filter),
    failNext: (filter, fault) => rest.failNext(filter, fault),
    invalidRequests: () => rest.invalidRequests(),
    whenIdentified: () => gateway.whenIdentified(),
    requestReconnect: () => gateway.requestReconnect(),
    dropConnections: (code) => gateway.dropConnections(code),
    invalidateSessions: () => gateway.invalidateSessions(),
    withholdReady: (on = true) => gateway.withholdReady(on),
    gatewayStats: () => gateway.stats(),
    resetToken() {
      // As "Reset Token" in the developer portal: the old token is refused from now on, by REST
      // (401) and by the gateway (IDENTIFY closes 4004; a RESUME gets op 9 and must identify).
      core.token = `${Buffer.from(core.applicationId).toString('base64')}.Reset${Date.now().toString(36)}.${'y'.repeat(38)}`;
      return core.token;
    },
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
