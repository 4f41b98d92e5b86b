// The gateway: listens to Discord, keeps each channel's history, routes each message, and appends
// the resulting turns to the channel's queue. It never calls a model.
import { Client, Events, GatewayIntentBits, MessageFlags, Partials, type ClientOptions, type Guild, type Message, type PartialMessage } from 'discord.js';
import type { Config } from '../core/config.ts';
import { describeError, type Logger } from '../core/log.ts';
import { readableContent, type ChannelMessage } from '../core/messages.ts';
import { route, type Author } from '../core/route.ts';
import type { Turn } from '../core/turns.ts';
import type { Persona } from '../personas/schema.ts';
import type { LoadedProtocol } from '../protocols/schema.ts';
import { askHumanQuestion } from '../core/interview/sessions.ts';
import { eventId, TRANSCRIPT_FORMAT_VERSION } from '../core/transcript/events.ts';
import type { LiveSession } from '../core/transcript/live.ts';
import { loadCommands } from '../commands/index.ts';
import { ensurePersonaRole } from './roles.ts';
import { createServices, type Services } from './services.ts';

export interface RunningGateway {
  client: Client;
  services: Services;
  /** Resolves once the client is logged in and ready. */
  ready: Promise<void>;
  /** Stops routing, lets handlers in flight finish, then disconnects. */
  close(): Promise<void>;
}

/** The message as the context builder will read it: display names, readable mentions. */
export function snapshot(message: Message, personaRoleNames: ReadonlyMap<string, string> = new Map()): ChannelMessage {
  const users = [...message.mentions.users.values()].map((u) => ({ id: u.id, name: message.mentions.members?.get(u.id)?.displayName ?? u.displayName }));
  const roles = [...message.mentions.roles.values()].map((r) => ({ id: r.id, name: personaRoleNames.get(r.id) ?? r.name }));
  const attachments = [...message.attachments.values()].map((a) => ({ name: a.name, url: a.url, ...(a.contentType ? { contentType: a.contentType } : {}) }));
  return {
    id: message.id,
    authorId: message.author.id,
    authorName: message.member?.displayName ?? message.author.displayName,
    content: readableContent(message.content, users, roles),
    isBot: message.author.bot || message.webhookId !== null,
    createdAt: message.createdAt.toISOString(),
    ...(message.reference?.messageId ? { replyToId: message.reference.messageId } : {}),
    ...(attachments.length ? { attachments } : {}),
  };
}

/** Records the message and appends a turn for each persona that should answer. Returns how many. */
export async function handleMessage(message: Message, s: Services): Promise<number> {
  if (message.webhookId && (await s.isOurWebhook(message.webhookId))) return 0; // a worker recorded and routed it
  const guildId = message.guildId ?? undefined;
  const parentId = message.channel.isThread() ? (message.channel.parentId ?? undefined) : undefined;

  const mentionedRoles = [...message.mentions.roles.keys()];
  const rolePersonas = guildId && mentionedRoles.length ? await s.roles.personasOf(guildId, mentionedRoles) : new Map<string, string>();
  const roleNames = new Map([...rolePersonas].map(([roleId, personaId]) => [roleId, s.personas.find((p) => p.id === personaId)?.name ?? personaId]));
  const trigger = snapshot(message, roleNames);
  const author: Author = message.author.bot || message.webhookId ? { kind: 'bot' } : { kind: 'human' };
  // Independent look-ups at once: each is a Redis round trip on the path to the reply.
  const [, live, repliedTo, settings] = await Promise.all([
    s.history.add(message.channelId, [trigger]),
    s.live.of(message.channelId),
    author.kind === 'human' && message.reference?.messageId ? s.ledger.postOf(message.reference.messageId) : undefined,
    s.settings.resolve({ ...(guildId ? { guildId } : {}), channelId: message.channelId, ...(parentId ? { parentId } : {}) }),
  ]);
  if (live) {
    // An interview thread is the interview's: its questions come from the interviewer, no one else's
    // messages start replies. A recorded channel goes on as usual, with every message kept.
    if (live.kind === 'interview') return interviewMessage(message, trigger, live, s);
    await recordChannelMessage(s, live.sessionId, trigger, author.kind === 'human');
  }
  if (author.kind === 'bot') return 0;
  const now = Date.now();
  const activity = settings.values.interjectionProbability > 0 ? await s.ledger.activity(message.channelId, now) : { lastPostAt: new Map<string, number>(), ambientRepliesLastMinute: 0 };
  const mentions = [...rolePersonas].map(([roleId, personaId]) => ({ personaId, at: message.content.indexOf(`<@&${roleId}>`) }));
  const { answer, skipped } = route(
    { content: message.content, author, ...(repliedTo ? { repliedToPersonaId: repliedTo.personaId } : {}), mentions },
    s.personas,
    { ...settings.values, ...activity },
    { maxPerMessage: s.config.MAX_PERSONAS_PER_MESSAGE, now, random: Math.random },
  );
  if (skipped.length) s.log.info({ messageId: message.id, channelId: message.channelId, skipped }, 'some addressed personas will not answer');
  if (answer.length === 0) return 0;
  const ambient = answer.filter((d) => d.trigger === 'interjection').length;
  if (ambient) await s.ledger.noteAmbient(message.channelId, ambient, now);
  const turns: Turn[] = answer.map((d) => ({
    v: 2,
    ...(guildId ? { guildId } : {}),
    channelId: message.channelId,
    ...(parentId ? { parentId } : {}),
    personaId: d.personaId,
    reason: d.trigger,
    depth: d.depth,
    trigger,
    receivedAt: now,
  }));
  await s.turns.append(turns);
  s.log.debug({ messageId: message.id, channelId: message.channelId, personas: answer.map((d) => d.personaId) }, 'turns appended');
  return answer.length;
}

async function interviewMessage(message: Message, trigger: ChannelMessage, live: LiveSession, s: Services): Promise<number> {
  if (message.author.bot || message.webhookId || message.author.id !== live.interviewerId) return 0;
  const session = await (await s.records).session(live.sessionId);
  if (session?.status === 'ended') {
    await s.live.clear(message.channelId);
    return 0;
  }
  if (session?.status !== 'running') return 0;
  await askHumanQuestion(
    s.interviews,
    { step: 'ask', sessionId: live.sessionId, text: trigger.content, source: 'human', askedBy: { kind: 'human', userId: trigger.authorId, name: trigger.authorName }, discordMessageId: message.id },
    message.id,
  );
  return 0;
}

async function recordChannelMessage(s: Services, sessionId: string, m: ChannelMessage, human: boolean): Promise<void> {
  await (await s.records).append({
    v: TRANSCRIPT_FORMAT_VERSION,
    id: eventId(sessionId, 'message', m.id),
    sessionId,
    at: m.createdAt,
    type: 'channel_message',
    author: human ? { kind: 'human', userId: m.authorId, name: m.authorName } : { kind: 'system' },
    text: m.content,
    discordMessageId: m.id,
    ...(m.replyToId ? { replyToId: m.replyToId } : {}),
    ...(m.attachments?.length ? { attachments: m.attachments.map((a) => ({ name: a.name, ...(a.contentType ? { contentType: a.contentType } : {}) })) } : {}),
  });
}

async function handleEdit(message: Message | PartialMessage, s: Services): Promise<void> {
  if (message.webhookId && (await s.isOurWebhook(message.webhookId))) return; // workers keep their own posts
  if (typeof message.content !== 'string') return;
  const text = message.partial ? message.content : snapshot(message).content;
  await s.history.edit(message.channelId, message.id, text);
  const live = await s.live.of(message.channelId);
  if (live?.kind === 'channel') {
    await (await s.records).append({ v: TRANSCRIPT_FORMAT_VERSION, id: eventId(live.sessionId, 'edit', message.id, text), sessionId: live.sessionId, at: new Date().toISOString(), type: 'message_edited', discordMessageId: message.id, text });
  }
}

async function handleDelete(channelId: string, ids: string[], s: Services): Promise<void> {
  await s.history.remove(channelId, ids);
  const live = await s.live.of(channelId);
  if (live?.kind !== 'channel') return;
  const records = await s.records;
  for (const id of ids) {
    await records.append({ v: TRANSCRIPT_FORMAT_VERSION, id: eventId(live.sessionId, 'delete', id), sessionId: live.sessionId, at: new Date().toISOString(), type: 'message_deleted', discordMessageId: id });
  }
}

export function startGateway(
  config: Config,
  personas: Persona[],
  log: Logger,
  options: {
    env?: Record<string, string | undefined>;
    clientOptions?: Partial<ClientOptions>;
    /** Called after each message is routed, with how many personas answer. */
    onRouted?: (messageId: string, answering: number) => void;
    protocols?: ReadonlyMap<string, LoadedProtocol>;
  } = {},
): RunningGateway {
  const services = createServices(config, personas, options.env ?? process.env, log, options.protocols);
  const client = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
    // Edits and deletions of messages discord.js has not cached still reach the history.
    partials: [Partials.Message, Partials.Channel],
    rest: { api: config.DISCORD_API_URL, ...(config.DISCORD_REST_PROXIED ? { globalRequestsPerSecond: 10_000 } : {}) },
    ...options.clientOptions,
  });
  const commands = loadCommands();
  let stopping = false;
  const inFlight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const failed = (what: string, ids: object) => (err: Error) => log.error({ ...ids, err: describeError(err) }, what);

  client.on(Events.MessageCreate, (message) => {
    if (stopping) return;
    track(
      handleMessage(message, services).then(
        (answering) => options.onRouted?.(message.id, answering),
        failed('could not route message', { messageId: message.id, channelId: message.channelId }),
      ),
    );
  });
  client.on(Events.MessageUpdate, (_old, message) => {
    if (!stopping) track(handleEdit(message, services).catch(failed('could not record an edit', { messageId: message.id })));
  });
  client.on(Events.MessageDelete, (message) => {
    if (!stopping) track(handleDelete(message.channelId, [message.id], services).catch(failed('could not record a deletion', { messageId: message.id })));
  });
  client.on(Events.MessageBulkDelete, (messages, channel) => {
    if (!stopping) track(handleDelete(channel.id, [...messages.keys()], services).catch(failed('could not record deletions', { channelId: channel.id })));
  });
  client.on(Events.InteractionCreate, (interaction) => {
    if (stopping) return;
    if (interaction.isAutocomplete()) {
      const command = commands.get(interaction.commandName);
      if (command?.autocomplete) track(command.autocomplete(interaction, services).catch(failed('autocomplete failed', { command: interaction.commandName })));
      return;
    }
    if (!interaction.isChatInputCommand()) return;
    const command = commands.get(interaction.commandName);
    if (!command) return;
    track(
      command.execute(interaction, services).catch(async (err: Error) => {
        log.error({ command: interaction.commandName, err: describeError(err) }, 'command failed');
        const reply = { content: 'Something went wrong running that command; it has been logged.', flags: MessageFlags.Ephemeral } as const;
        try {
          if (interaction.deferred || interaction.replied) await interaction.editReply({ content: reply.content });
          else await interaction.reply(reply);
        } catch {
          // The interaction expired; the log line above is what is left.
        }
      }),
    );
  });
  // Default-roster personas get their mentionable roles as soon as chorus sees a guild.
  const prepareGuild = (guild: Guild) =>
    track(
      services.settings
        .resolve({ guildId: guild.id, channelId: guild.id }) // no channel has the guild's id: guild layer only
        .then(async ({ values }) => {
          for (const persona of personas.filter((p) => values.roster.includes(p.id))) await ensurePersonaRole(guild, persona, services.roles, log);
        })
        .catch(failed('could not prepare guild', { guildId: guild.id })),
    );
  client.on(Events.GuildCreate, prepareGuild);
  client.on(Events.Error, (err) => log.error({ err: describeError(err) }, 'discord client error'));

  const ready = new Promise<void>((resolve, reject) => {
    client.once(Events.ClientReady, async (c) => {
      try {
        // Messages sent while the gateway was away are in no cache: workers refill each channel once.
        await services.history.newEpoch();
        const recovered = await services.turns.recover();
        for (const guild of c.guilds.cache.values()) prepareGuild(guild);
        log.info({ user: c.user.tag, guilds: c.guilds.cache.size, recoveredDrains: recovered }, 'gateway ready');
        resolve();
      } catch (err) {
        reject(err as Error);
      }
    });
    client.login(config.DISCORD_TOKEN).catch(reject);
  });

  return {
    client,
    services,
    ready,
    async close() {
      stopping = true;
      await Promise.allSettled([...inFlight]);
      await client.destroy();
      await services.close();
    },
  };
}
