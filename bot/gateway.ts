// The gateway: listens to Discord, routes each message, enqueues one job per answering persona.
// It never calls a model.
import { Client, Events, GatewayIntentBits, MessageFlags, type ClientOptions, type Interaction, type Message } from 'discord.js';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from '../core/config.ts';
import { createLedger, type Ledger } from '../core/ledger.ts';
import { describeError, type Logger } from '../core/log.ts';
import { readableContent, type ChannelMessage } from '../core/messages.ts';
import { createReplyQueue, enqueueReply, replyJobOptions, type ReplyJob } from '../core/queue.ts';
import { route } from '../core/route.ts';
import type { Persona } from '../personas/schema.ts';
import { loadCommands, type CommandContext } from '../commands/index.ts';

export interface RunningGateway {
  client: Client;
  queue: Queue<ReplyJob>;
  /** Resolves once the client is logged in and ready. */
  ready: Promise<void>;
  /** Stops enqueueing, then disconnects. */
  close(): Promise<void>;
}

/** The trigger as the worker will read it: display names, readable mentions. */
export function snapshot(message: Message): ChannelMessage {
  const users = [...message.mentions.users.values()].map((u) => ({
    id: u.id,
    name: message.mentions.members?.get(u.id)?.displayName ?? u.displayName,
  }));
  const roles = [...message.mentions.roles.values()].map((r) => ({ id: r.id, name: r.name }));
  return {
    id: message.id,
    authorId: message.author.id,
    authorName: message.member?.displayName ?? message.author.displayName,
    content: readableContent(message.content, users, roles),
    isBot: message.author.bot || message.webhookId !== null,
    createdAt: message.createdAt.toISOString(),
    ...(message.reference?.messageId ? { replyToId: message.reference.messageId } : {}),
  };
}

export async function handleMessage(message: Message, deps: { personas: readonly Persona[]; ledger: Ledger; queue: Queue<ReplyJob>; config: Config; log: Logger }): Promise<number> {
  const authorIsBot = message.author.bot || message.webhookId !== null;
  if (authorIsBot) return 0;
  const repliedTo = message.reference?.messageId;
  const repliedToPersonaId = repliedTo ? await deps.ledger.personaOfPost(repliedTo) : undefined;
  const decisions = route({ content: message.content, authorIsBot, ...(repliedToPersonaId ? { repliedToPersonaId } : {}) }, deps.personas);
  if (decisions.length === 0) return 0;
  const receivedAt = Date.now();
  const trigger = snapshot(message);
  const opts = replyJobOptions(deps.config.REPLY_ATTEMPTS, deps.config.RETRY_BACKOFF_MS);
  for (const d of decisions) {
    await enqueueReply(
      deps.queue,
      { v: 1, ...(message.guildId ? { guildId: message.guildId } : {}), channelId: message.channelId, personaId: d.personaId, reason: d.trigger, trigger, receivedAt },
      opts,
    );
  }
  deps.log.debug({ messageId: message.id, channelId: message.channelId, personas: decisions.map((d) => d.personaId) }, 'enqueued replies');
  return decisions.length;
}

export function startGateway(
  config: Config,
  personas: Persona[],
  log: Logger,
  options: {
    env?: Record<string, string | undefined>;
    clientOptions?: Partial<ClientOptions>;
    /** Called after each message is routed (and its jobs enqueued), with how many personas answer. */
    onRouted?: (messageId: string, answering: number) => void;
  } = {},
): RunningGateway {
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  const ledger = createLedger(redis, config.CHORUS_PREFIX, config.POST_MEMORY_DAYS);
  const queue = createReplyQueue(redis, config.CHORUS_PREFIX);
  const client = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
    rest: { api: config.DISCORD_API_URL },
    ...options.clientOptions,
  });
  const commands = loadCommands();
  const commandContext: CommandContext = { personas, env: options.env ?? process.env, log };
  let stopping = false;
  // Track handlers in flight so close() lets them finish their enqueue.
  const inFlight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  client.on(Events.MessageCreate, (message) => {
    if (stopping) return;
    track(
      handleMessage(message, { personas, ledger, queue, config, log }).then(
        (answering) => options.onRouted?.(message.id, answering),
        (err: Error) => log.error({ messageId: message.id, channelId: message.channelId, err: describeError(err) }, 'could not route message'),
      ),
    );
  });
  client.on(Events.InteractionCreate, (interaction: Interaction) => {
    if (stopping || !interaction.isChatInputCommand()) return;
    const command = commands.get(interaction.commandName);
    if (!command) return;
    track(
      command.execute(interaction, commandContext).catch(async (err: Error) => {
        log.error({ command: interaction.commandName, err: describeError(err) }, 'command failed');
        const reply = { content: 'Something went wrong running that command.', flags: MessageFlags.Ephemeral } as const;
        try {
          if (interaction.deferred || interaction.replied) await interaction.followUp(reply);
          else await interaction.reply(reply);
        } catch {
          // The interaction expired; the log line above is all that is left to do.
        }
      }),
    );
  });
  client.on(Events.Error, (err) => log.error({ err: describeError(err) }, 'discord client error'));

  const ready = new Promise<void>((resolve, reject) => {
    client.once(Events.ClientReady, (c) => {
      log.info({ user: c.user.tag, guilds: c.guilds.cache.size }, 'gateway ready');
      resolve();
    });
    client.login(config.DISCORD_TOKEN).catch(reject);
  });

  return {
    client,
    queue,
    ready,
    async close() {
      stopping = true;
      await Promise.allSettled([...inFlight]);
      await client.destroy();
      await queue.close();
      await redis.quit();
    },
  };
}
