// The gateway: listens to Discord (bot/connection.ts), reads each event it needs (bot/payloads.ts),
// keeps guild facts and message history, routes messages (bot/messages.ts) and runs slash commands.
// It never calls a model. An event it cannot read costs that one event, never the process.
import { GatewayDispatchEvents, InteractionType, Routes, type APIMessage, type GatewayDispatchPayload } from 'discord-api-types/v10';
import { ZodError } from 'zod';
import { createBotIdentity } from '../core/application.ts';
import { THREAD_TYPES, webhookPoolKey } from '../core/channels.ts';
import { queueDashboard, startAdminServer, type AdminServer } from '../core/admin-server.ts';
import { createHealthStore } from '../core/health.ts';
import { createRegistry, gatewayMetrics, observeRest } from '../core/metrics.ts';
import type { Config } from '../core/config.ts';
import { classifyDiscordError, createRest } from '../core/rest.ts';
import { describeError, type Logger } from '../core/log.ts';
import { snowflakeTime } from '../core/messages.ts';
import { createRestGate } from '../core/rest-gate.ts';
import { startRecordWriter } from '../core/transcript/outbox.ts';
import { RecordStoreAwayError } from '../core/transcript/store-away.ts';
import { openStores } from '../core/stores.ts';
import type { Persona } from '../personas/schema.ts';
import type { LoadedProtocol } from '../protocols/schema.ts';
import { loadCommands } from '../commands/index.ts';
import { catchUp, changedWhileAway, forgetHeard, heardChannels, type HeardChannel } from './catch-up.ts';
import { createChannelOrder } from './channel-order.ts';
import { connectGateway, type GatewayConnection, type ShardEvent } from './connection.ts';
import { createGuildFacts } from './guild-facts.ts';
import { commandContext, InteractionExpiredError } from './interactions.ts';
import { handleDelete, handleEdit, handleMessage } from './messages.ts';
import * as P from './payloads.ts';
import type { Services } from './services.ts';

/** A command read this late (ms after it was given) is said in the log: Discord allows 3 s for its answer. */
const LATE_COMMAND_MS = 1_500;

/** A GUILD_CREATE whose joined_at is this recent is the bot being added, not a start or a resume. */
const JUST_JOINED_MS = 10 * 60_000;
/** Messages of a recorded channel compared after a fresh session, for edits and deletions missed. */
const RECONCILE_PAGE = 100;

export interface RunningGateway {
  services: Services;
  /** Resolves once every shard this process runs is ready or resumed. */
  ready: Promise<void>;
  /** The admin pages (/metrics, /queues), when ADMIN_TOKEN is set and the port was free. */
  admin: Promise<AdminServer | undefined>;
  /** Stops taking events, lets those in hand finish, saves the sessions for a successor, disconnects. */
  close(): Promise<void>;
}

export interface GatewayOptions {
  env?: Record<string, string | undefined>;
  protocols?: ReadonlyMap<string, LoadedProtocol>;
  /** Called after each message is handled, with how many personas answer it. */
  onRouted?: (messageId: string, answering: number) => void;
  /** The gateway cannot go on (token refused, intents disallowed, shard taken): stop, saying why. */
  onFatal?: (message: string) => void;
  /** Called after each record this process's writer has written to the record store (tests). */
  onRecordWritten?: () => void;
}

export function startGateway(config: Config, personas: Persona[], log: Logger, options: GatewayOptions = {}): RunningGateway {
  const stores = openStores(config, personas.map((p) => p.id), log, { cacheReads: true });
  const prefix = config.CHORUS_PREFIX;
  const rest = createRest(config.DISCORD_API_URL, config.DISCORD_TOKEN, config.DISCORD_REST_PROXIED ? { proxied: true } : { gate: createRestGate(stores.redis, prefix) });
  const identity = createBotIdentity(rest, stores.redis, prefix, config.DISCORD_TOKEN);
  const services: Services = {
    ...stores,
    // Not the spread's value: opening the record store waits for its first use (see openStores).
    get records() {
      return stores.records;
    },
    config,
    personas,
    env: options.env ?? process.env,
    log,
    protocols: options.protocols ?? new Map(),
    rest,
    guildFacts: createGuildFacts(rest, stores.redis, prefix),
    isOurWebhook: async (webhookId) => (await stores.redis.sismember(`${prefix}:our-webhooks`, webhookId)) === 1,
  };
  // Recorded channels' events, from this process and the workers, written to the record store in order.
  const recordWriter = startRecordWriter({ redis: stores.redis, prefix, outbox: stores.outbox, store: () => stores.records, log, ...(options.onRecordWritten ? { onWritten: options.onRecordWritten } : {}) });
  const commands = loadCommands();
  // Metrics and the admin pages: /metrics, and the queue dashboard (loaded when first opened).
  const registry = createRegistry('gateway', { processMetrics: Boolean(config.ADMIN_TOKEN) });
  observeRest(rest, registry);
  const metrics = gatewayMetrics(registry, {
    sessions: async () => (await stores.records).sessions({ kind: 'interview' }),
    health: createHealthStore(stores.redis, prefix),
    recordsWaiting: () => stores.outbox.waiting(),
  });
  const admin = startAdminServer({
    token: config.ADMIN_TOKEN,
    host: config.ADMIN_HOST,
    port: config.GATEWAY_ADMIN_PORT,
    portVariable: 'GATEWAY_ADMIN_PORT',
    registry,
    log,
    pages: { path: '/queues', handler: () => queueDashboard([stores.replies.queue, stores.interviews.queue]) },
  });
  const fatal = (message: string) => {
    log.fatal(message);
    options.onFatal?.(message);
  };

  const inChannelOrder = createChannelOrder();
  function onDispatch(event: ShardEvent): Promise<void> {
    // Sub-millisecond, for latency figures (ms since the epoch, like Date.now()).
    const receivedAt = performance.timeOrigin + performance.now();
    const channelId = (event.payload.d as { channel_id?: unknown } | null)?.channel_id;
    if (!event.payload.t.startsWith('MESSAGE_') || typeof channelId !== 'string') return handleEvent(event, receivedAt);
    return inChannelOrder(channelId, () => handleEvent(event, receivedAt));
  }

  /** After a fresh session: what was written in the channels heard from lately, routed late. */
  async function catchUpAfter(shard: readonly [number, number], sessionAt: number): Promise<void> {
    const channels = await heardChannels(stores.redis, prefix, shard, sessionAt);
    if (!channels.length) return;
    const botUserId = await identity.botUserId();
    const routed = await catchUp(
      rest,
      channels,
      sessionAt,
      (m, c) =>
        inChannelOrder(m.channel_id, async () => {
          try {
            const message = P.MessageCreate.parse({ ...m, ...(c.guildId ? { guild_id: c.guildId } : {}) });
            metrics.routed(await handleMessage(message, services, botUserId, Date.now(), true));
          } catch (err) {
            log.warn({ channelId: c.channelId, messageId: m.id, err: describeError(err) }, 'could not route a message written while the gateway was away');
          }
        }),
      async (c, err) => {
        // A channel gone, or no longer visible to chorus (the bot removed from its server): not read again.
        const kind = classifyDiscordError(err);
        if (kind === 'gone' || kind === 'forbidden') await forgetHeard(stores.redis, prefix, c.channelId, c.guildId);
        log.warn({ channelId: c.channelId, err: describeError(err) }, 'could not read what was written in a channel while the gateway was away');
      },
    );
    log.info({ shard: shard[0], channels: channels.length, routed }, 'read what was written while the gateway had no session');
    await reconcileRecorded(channels, botUserId, sessionAt);
  }

  /** Recorded channels: edits and deletions made while no session existed reach the transcript. */
  async function reconcileRecorded(channels: readonly HeardChannel[], botUserId: string, sessionAt: number): Promise<void> {
    for (const c of channels) {
      try {
        if (!(await services.live.recording(c.channelId))) continue;
        // Read and applied in the channel's order: a live edit or deletion coming meanwhile is not
        // undone by the older copy read here.
        const changed = await inChannelOrder(c.channelId, async () => {
          const [latest, held] = await Promise.all([
            rest.get(Routes.channelMessages(c.channelId), { query: new URLSearchParams({ limit: String(RECONCILE_PAGE) }) }) as Promise<APIMessage[]>,
            stores.history.recent(c.channelId, RECONCILE_PAGE),
          ]);
          const { deleted, edited } = changedWhileAway(held, latest, RECONCILE_PAGE, { heardAt: c.heardAt, sessionAt });
          for (const m of edited) await handleEdit(P.MessageUpdate.parse({ ...m, ...(c.guildId ? { guild_id: c.guildId } : {}) }), services, botUserId);
          if (deleted.length) await handleDelete(c.channelId, deleted, services);
          return deleted.length + edited.length;
        });
        if (changed) log.info({ channelId: c.channelId, changed }, 'read the edits and deletions made in a recorded channel while the gateway had no session');
      } catch (err) {
        log.warn({ channelId: c.channelId, err: describeError(err) }, 'could not read what changed in a recorded channel while the gateway was away');
      }
    }
  }

  async function handleEvent({ payload }: ShardEvent, receivedAt: number): Promise<void> {
    const d = payload.d as unknown;
    try {
      await handle(payload.t, d, receivedAt);
    } catch (err) {
      const id = (d as { id?: unknown } | null)?.id;
      if (err instanceof ZodError) {
        log.warn({ type: payload.t, id, problems: err.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`) }, 'an event chorus cannot read was skipped');
      } else if (classifyDiscordError(err) === 'unauthorized') {
        fatal('Discord refused the bot token (HTTP 401): it was reset or revoked. Put the new token in DISCORD_TOKEN and restart chorus.');
      } else {
        log.error({ type: payload.t, id, err: describeError(err) }, 'handling an event failed');
      }
    }
  }

  async function handle(t: GatewayDispatchPayload['t'], d: unknown, receivedAt: number): Promise<void> {
    switch (t) {
      case GatewayDispatchEvents.Ready: {
        const ready = P.Ready.parse(d);
        const sessionAt = Date.now();
        // A fresh session: what was said while no session existed reached no one; workers re-read
        // each channel's history from Discord once (channels never spoken in excepted: the
        // GUILD_CREATEs that follow say which, see bot/guild-facts.ts), and the messages it missed
        // are routed late (bot/catch-up.ts).
        const epoch = stores.history.newEpoch();
        await identity.remember({ botUserId: ready.user.id, ...(ready.application ? { applicationId: ready.application.id } : {}) });
        await epoch;
        log.info({ user: ready.user.username, guilds: ready.guilds?.length ?? 0 }, 'gateway ready');
        const shard = ready.shard ?? [0, 1];
        void catchUpAfter(shard, sessionAt).catch((err: unknown) => log.warn({ shard: shard[0], err: describeError(err) }, 'could not read what was written while the gateway had no session'));
        return;
      }
      case GatewayDispatchEvents.GuildCreate: {
        const guild = P.GuildCreate.parse(d);
        // Added to the server just now (again, perhaps): what it was refused before is moot.
        if (guild.joined_at && Date.now() - Date.parse(guild.joined_at) < JUST_JOINED_MS) await stores.access.forgetGuild(guild.id);
        return services.guildFacts.learnGuild(guild);
      }
      case GatewayDispatchEvents.GuildDelete: {
        const gone = P.GuildCreate.pick({ id: true, unavailable: true }).parse(d);
        // Removed (not an outage, which says unavailable): refusals recorded from now on, by turns
        // still queued there, are forgotten when it is added back (joined_at above).
        if (!gone.unavailable) {
          await stores.access.forgetGuild(gone.id);
          await stores.access.leftGuild(gone.id);
        }
        return services.guildFacts.forgetGuild(gone.id);
      }
      case GatewayDispatchEvents.ChannelCreate:
      case GatewayDispatchEvents.ThreadCreate:
        return services.guildFacts.learnChannels([P.Channel.parse(d)]);
      case GatewayDispatchEvents.ChannelUpdate:
      case GatewayDispatchEvents.ThreadUpdate: {
        const channel = P.Channel.parse(d);
        await services.guildFacts.learnChannels([channel]);
        // Overwrites may have changed: permissions refused here (or in its threads) may be granted
        // now. (A thread has no overwrites of its own: archiving one, which Discord does all day in a
        // busy server, changes nothing anyone may do.)
        if (t === GatewayDispatchEvents.ChannelUpdate && channel.guild_id) await stores.access.forgetGuild(channel.guild_id);
        return;
      }
      case GatewayDispatchEvents.ChannelDelete:
      case GatewayDispatchEvents.ThreadDelete: {
        // What was kept of the channel goes with it: its target, its history, its webhooks' tokens
        // (Discord deletes the webhooks with the channel), its settings, its live-session mark (a
        // recorded channel deleted has nothing more to record; its record stays in the store).
        const { id, guild_id } = P.Channel.pick({ id: true, guild_id: true }).parse(d);
        await Promise.all([
          services.guildFacts.forgetChannel(id),
          stores.history.forget(id),
          stores.redis.del(webhookPoolKey(prefix, id)),
          forgetHeard(stores.redis, prefix, id, guild_id),
          stores.settings.forgetChannel(id),
          stores.live.clear(id),
        ]);
        return;
      }
      case GatewayDispatchEvents.ThreadListSync:
        return services.guildFacts.learnChannels(P.ThreadListSync.parse(d).threads ?? []);
      case GatewayDispatchEvents.GuildRoleCreate:
      case GatewayDispatchEvents.GuildRoleUpdate: {
        const { guild_id, role } = P.GuildRoleEvent.parse(d);
        services.guildFacts.learnRole(guild_id, role);
        services.guildFacts.accessMayHaveChanged(guild_id);
        return stores.access.forgetGuild(guild_id);
      }
      case GatewayDispatchEvents.GuildRoleDelete: {
        const { guild_id, role_id } = P.GuildRoleDelete.parse(d);
        services.guildFacts.forgetRole(guild_id, role_id);
        services.guildFacts.accessMayHaveChanged(guild_id);
        for (const [, personaId] of await stores.roles.personasOf(guild_id, [role_id])) await stores.roles.forget(guild_id, personaId);
        return stores.access.forgetGuild(guild_id);
      }
      case GatewayDispatchEvents.GuildMemberUpdate: {
        // Sent for the bot's own member whatever the intents: its roles, so what it may see, changed.
        const { guild_id, user } = P.GuildMemberUpdate.parse(d);
        if (user.id !== (await identity.botUserId())) return;
        services.guildFacts.accessMayHaveChanged(guild_id);
        return stores.access.forgetGuild(guild_id);
      }
      case GatewayDispatchEvents.MessageCreate: {
        const message = P.MessageCreate.parse(d);
        const answering = await handleMessage(message, services, await identity.botUserId(), receivedAt);
        metrics.routed(answering);
        options.onRouted?.(message.id, answering);
        return;
      }
      case GatewayDispatchEvents.MessageUpdate:
        return handleEdit(P.MessageUpdate.parse(d), services, await identity.botUserId());
      case GatewayDispatchEvents.MessageDelete: {
        const { id, channel_id } = P.MessageDelete.parse(d);
        return handleDelete(channel_id, [id], services);
      }
      case GatewayDispatchEvents.MessageDeleteBulk: {
        const { ids, channel_id } = P.MessageDeleteBulk.parse(d);
        return handleDelete(channel_id, ids, services);
      }
      case GatewayDispatchEvents.InteractionCreate:
        return runInteraction(P.Interaction.parse(d));
      default:
        return;
    }
  }

  async function runInteraction(i: P.Interaction): Promise<void> {
    if (i.type !== InteractionType.ApplicationCommand && i.type !== InteractionType.ApplicationCommandAutocomplete) return;
    // A command comes in the same ordered stream as messages: behind a burst the gateway cannot route
    // as fast as it comes, it is read late, and past 3 s Discord has told its user it failed.
    const ageMs = Date.now() - snowflakeTime(i.id);
    if (i.type === InteractionType.ApplicationCommand) metrics.commandAge(ageMs);
    if (ageMs > LATE_COMMAND_MS) log.warn({ interactionId: i.id, ageMs }, 'a command reached chorus late: the gateway is behind the messages it is sent (see the README on shards)');
    const channelId = i.channel_id ?? i.channel?.id;
    // A thread's parent is the channel whose webhooks it uses; any other channel's parent_id is its
    // category, which has none (read as a thread's, it sent /ask's answers to the category's webhooks).
    const parentId = i.channel
      ? THREAD_TYPES.has(i.channel.type) ? (i.channel.parent_id ?? undefined) : undefined
      : channelId ? await services.guildFacts.parentOf(channelId).catch(() => undefined) : undefined;
    const ctx = commandContext(i, rest, parentId);
    const command = commands.get(ctx.commandName);
    if (!command) {
      // A registration older than this chorus (a command since removed or renamed).
      log.warn({ command: ctx.commandName }, 'a command this chorus does not know');
      if (!ctx.isAutocomplete) await ctx.reply('This command is not known to this version of chorus: ask an admin to run `npm run commands:register`.', { ephemeral: true }).catch(() => undefined);
      return;
    }
    if (ctx.isAutocomplete) {
      await command.autocomplete?.(ctx, services);
      return;
    }
    try {
      await command.execute(ctx, services);
    } catch (err) {
      if (err instanceof InteractionExpiredError) {
        // Asking again through the same interaction would only be refused again (and counted).
        log.warn({ command: ctx.commandName, interactionId: i.id, ageMs: err.ageMs }, 'the interaction expired before chorus could answer it');
        return;
      }
      // A command Discord gave again after a crash whose first run answered already: that answer
      // stands (a failure of the second run would replace "Recording started." with bad news).
      if (await ctx.firstAnswerStands().catch(() => false)) {
        log.warn({ command: ctx.commandName, err: describeError(err) }, 'a command given again after a crash failed; its first answer stands');
        return;
      }
      const away = err instanceof RecordStoreAwayError;
      log[away ? 'warn' : 'error']({ command: ctx.commandName, err: describeError(err) }, away ? 'command failed: the record store is away' : 'command failed');
      const text = away ? 'The transcript database cannot be reached just now, so this was not done. Try again in a moment.' : 'Something went wrong running that command; it has been logged.';
      await (ctx.answered ? ctx.edit(text) : ctx.reply(text, { ephemeral: true })).catch(() => undefined); // the interaction may have expired
    }
  }

  let connection: GatewayConnection | undefined;
  const stopped = new AbortController();
  const ready = (async () => {
    connection = await connectGateway({
      token: config.DISCORD_TOKEN,
      rest,
      redis: stores.redis,
      prefix,
      shardCount: config.SHARD_COUNT === 'auto' ? null : config.SHARD_COUNT,
      shardIds: config.SHARD_IDS,
      readyTimeoutMs: config.GATEWAY_READY_TIMEOUT_MS,
      leaseMs: config.GATEWAY_LEASE_MS,
      log,
      onDispatch,
      onFatal: fatal,
      signal: stopped.signal,
    });
    await connection.ready;
    log.info({ shards: connection.shardIds, shardCount: connection.shardCount }, 'gateway connected');
  })();

  let closed: Promise<void> | undefined;
  return {
    services,
    ready,
    admin,
    close() {
      closed ??= (async () => {
        stopped.abort();
        await ready.catch(() => undefined);
        await admin.then((a) => a?.close());
        await connection?.close();
        await recordWriter.close();
        await stores.close();
      })();
      return closed;
    },
  };
}
