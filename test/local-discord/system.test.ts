import { REST } from '@discordjs/rest';
import { ApplicationFlagsBitField, ChannelType, Client, Events, GatewayIntentBits, MessageType, Routes } from 'discord.js';
import type { Message, TextChannel } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDiscordStandIn } from '../../local-discord/server.ts';
import type { DiscordStandIn } from '../../local-discord/server.ts';
import { nextEvent } from '../stand-ins/client-events.ts';

// Discord documents no token layout; this one's first segment is not the base64 of the application id.
const TOKEN = 'not-an-id.abc.def';

describe('Discord stand-in: system messages and the application', () => {
  let standIn: DiscordStandIn;
  let client: Client;
  let rest: REST;

  beforeAll(async () => {
    standIn = await startDiscordStandIn({ token: TOKEN });
    client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent], rest: { api: standIn.restUrl } });
    rest = new REST({ api: standIn.restUrl, version: '10' }).setToken(standIn.token);
    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    await client.login(TOKEN);
    await ready;
  });
  afterAll(async () => {
    await client?.destroy();
    await standIn?.close();
  });

  it('a thread started without a message posts THREAD_CREATED (type 18) in the parent: content the name, reference the thread', async () => {
    const parent = client.channels.cache.get(standIn.channelId) as TextChannel;
    const system = nextEvent<Message>(client, Events.MessageCreate, (m) => m.type === MessageType.ThreadCreated);
    const thread = await parent.threads.create({ name: 'Interview: preferences', autoArchiveDuration: 1440 });
    const m = await system;
    expect(m.channelId).toBe(parent.id);
    expect(m.content).toBe('Interview: preferences');
    expect(m.system).toBe(true);
    expect(m.author.id).toBe(standIn.botUser.id);
    expect(m.reference).toMatchObject({ channelId: thread.id, guildId: standIn.guildId, messageId: undefined });
    const stored = standIn.messages(parent.id).at(-1);
    expect(stored).toMatchObject({ type: 18, content: 'Interview: preferences', message_reference: { channel_id: thread.id, guild_id: standIn.guildId } });
    expect(stored?.message_reference).not.toHaveProperty('message_id');
    const wire = (await rest.get(Routes.channelMessage(parent.id, m.id))) as Record<string, unknown>;
    expect(wire).toMatchObject({ type: 18, message_reference: { type: 0, channel_id: thread.id, guild_id: standIn.guildId } });
    expect(wire).not.toHaveProperty('referenced_message'); // only replies, thread starters and context-menu commands carry it

    // Without type, Discord makes a private thread, which posts no system message.
    const priv = (await rest.post(Routes.threads(parent.id), { body: { name: 'quiet' } })) as { id: string; type: number };
    expect(priv.type).toBe(ChannelType.PrivateThread);
    expect(standIn.messages(parent.id).at(-1)?.id).toBe(stored?.id);
  });

  it('userCreatesThread: a person starts a public thread; the system message is theirs', async () => {
    const created = nextEvent<import('discord.js').ThreadChannel>(client, Events.ThreadCreate);
    const system = nextEvent<Message>(client, Events.MessageCreate, (m) => m.type === MessageType.ThreadCreated);
    const { threadId, message } = await standIn.userCreatesThread({ name: 'side talk' });
    expect((await created).ownerId).toBe(standIn.defaultUser.id);
    const m = await system;
    expect(m.id).toBe(message.id);
    expect(m.author.id).toBe(standIn.defaultUser.id);
    expect(m.reference?.channelId).toBe(threadId);
  });

  it('systemMessage: pins (6) reference the pinned message, member joins (7), boosts (8)', async () => {
    const said = await standIn.userSays({ content: 'pin me' });
    const pin = nextEvent<Message>(client, Events.MessageCreate, (m) => m.type === MessageType.ChannelPinnedMessage);
    await standIn.systemMessage({ type: 6, messageId: said.id });
    const p = await pin;
    expect(p.reference).toMatchObject({ messageId: said.id, channelId: standIn.channelId, guildId: standIn.guildId });
    expect(standIn.messages(standIn.channelId).find((m) => m.id === said.id)?.pinned).toBe(true);

    const join = nextEvent<Message>(client, Events.MessageCreate, (m) => m.type === MessageType.UserJoin);
    await standIn.systemMessage({ type: 7, author: { id: '444444444444444444', username: 'dave' } });
    expect((await join).author.username).toBe('dave');
    const boost = nextEvent<Message>(client, Events.MessageCreate, (m) => m.type === MessageType.GuildBoost);
    await standIn.systemMessage({ type: 8 });
    expect((await boost).system).toBe(true);
    await expect(standIn.systemMessage({ type: 6 })).rejects.toThrow(/messageId/);
  });

  it('GET /applications/@me: a realistic application whose flags follow the message content intent', async () => {
    const app = (await rest.get(Routes.currentApplication())) as Record<string, unknown>;
    expect(app).toMatchObject({
      id: standIn.applicationId,
      name: standIn.botUser.username,
      icon: null,
      description: '',
      bot_public: true,
      bot_require_code_grant: false,
      team: null,
      bot: { id: standIn.botUser.id, username: standIn.botUser.username, bot: true },
      owner: { username: 'owner' },
    });
    expect(app.verify_key).toMatch(/^[0-9a-f]{64}$/);
    expect(new ApplicationFlagsBitField(app.flags as number).has('GatewayMessageContentLimited')).toBe(true);
    const fetched = await client.application?.fetch();
    expect(fetched?.id).toBe(standIn.applicationId);
    expect(client.application?.flags.has('GatewayMessageContentLimited')).toBe(true);

    const without = await startDiscordStandIn({ messageContentIntent: false });
    try {
      const res = await fetch(`${without.restUrl}/v10/applications/@me`, { headers: { Authorization: `Bot ${without.token}` } });
      const flags = ((await res.json()) as { flags: number }).flags;
      expect(flags & ((1 << 18) | (1 << 19))).toBe(0);
    } finally {
      await without.close();
    }
  });

  it('logs in with a token that does not encode the application id', () => {
    expect(Buffer.from(TOKEN.split('.')[0] ?? '', 'base64').toString()).not.toBe(standIn.applicationId);
    expect(standIn.token).toBe(TOKEN);
    expect(client.user?.id).toBe(standIn.botUser.id);
    expect(client.application?.id).toBe(standIn.applicationId);
  });
});
