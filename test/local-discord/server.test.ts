import { REST } from '@discordjs/rest';
import { Client, Events, GatewayIntentBits, Routes } from 'discord.js';
import type { Message } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDiscordStandIn } from '../../local-discord/server.ts';
import type { DiscordStandIn } from '../../local-discord/server.ts';
import { nextEvent } from '../stand-ins/client-events.ts';

describe('Discord stand-in', () => {
  let standIn: DiscordStandIn;
  let client: Client;
  let rest: REST;

  beforeAll(async () => {
    standIn = await startDiscordStandIn({ token: 'test-token' });
    client = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
      rest: { api: standIn.restUrl },
    });
    rest = new REST({ api: standIn.restUrl, version: '10' }).setToken(standIn.token);
    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    await client.login(standIn.token);
    await ready;
    await standIn.whenIdentified();
  });

  afterAll(async () => {
    await client?.destroy();
    await standIn?.close();
  });

  it('logs the real discord.js client in and caches the guild and channel', () => {
    expect(client.user?.id).toBe(standIn.botUser.id);
    const guild = client.guilds.cache.get(standIn.guildId);
    expect(guild?.available).toBe(true);
    expect(guild?.channels.cache.get(standIn.channelId)?.isTextBased()).toBe(true);
    expect(guild?.members.me?.permissions.has('ManageWebhooks')).toBe(true);
    expect(standIn.restCalls.some((c) => c.path === '/api/v10/gateway/bot' && c.status === 200)).toBe(true);
  });

  it('delivers user messages and replies as messageCreate', async () => {
    const seen = nextEvent<Message>(client, Events.MessageCreate, (m) => m.content === 'hello bots');
    const said = await standIn.userSays({ content: 'hello bots' });
    const m = await seen;
    expect(m.id).toBe(said.id);
    expect(m.author.id).toBe(standIn.defaultUser.id);
    expect(m.author.bot).toBe(false);
    expect(m.channelId).toBe(standIn.channelId);
    expect(m.guildId).toBe(standIn.guildId);
    expect(m.member?.id).toBe(standIn.defaultUser.id);

    const replySeen = nextEvent<Message>(client, Events.MessageCreate, (x) => x.content === 'a reply');
    await standIn.userSays({ content: 'a reply', author: { id: '222222222222222222', username: 'bob' }, replyTo: said.id });
    const reply = await replySeen;
    expect(reply.reference?.messageId).toBe(said.id);
    expect(reply.author.username).toBe('bob');
    expect(reply.mentions.repliedUser?.id).toBe(standIn.defaultUser.id);
  });

  it('lets the bot send, and answers history newest first', async () => {
    const channel = client.channels.cache.get(standIn.channelId);
    if (!channel?.isSendable()) throw new Error('channel not sendable');
    const sent = await channel.send({ content: 'from the bot', allowedMentions: { parse: [] } });
    expect(sent.author.id).toBe(standIn.botUser.id);
    const history = (await rest.get(Routes.channelMessages(standIn.channelId), {
      query: new URLSearchParams({ limit: '2' }),
    })) as { id: string; content: string }[];
    expect(history.map((m) => m.content)).toEqual(['from the bot', 'a reply']);
  });

  it('creates and executes a webhook through @discordjs/rest', async () => {
    const hook = (await rest.post(Routes.channelWebhooks(standIn.channelId), { body: { name: 'chorus-personas' } })) as {
      id: string;
      token: string;
    };
    expect(hook.token).toBeTruthy();
    const observed = nextEvent<Message>(client, Events.MessageCreate, (m) => m.webhookId === hook.id);
    const posted = (await rest.post(Routes.webhook(hook.id, hook.token), {
      body: { content: 'persona speaking', username: 'Ada', avatar_url: 'https://example.test/ada.png', allowed_mentions: { parse: [] } },
      query: new URLSearchParams({ wait: 'true' }),
      auth: false,
    })) as { id: string; webhook_id: string; author: { username: string; bot: boolean } };
    expect(posted.webhook_id).toBe(hook.id);
    expect(posted.author).toMatchObject({ id: hook.id, username: 'Ada', bot: true });
    const stored = standIn.messages().find((m) => m.id === posted.id);
    expect(stored).toMatchObject({ content: 'persona speaking', avatar_url: 'https://example.test/ada.png' });
    const m = await observed;
    expect(m.author.username).toBe('Ada');
    expect(m.content).toBe('persona speaking');
  });

  it("keeps Discord's rules for names: trimmed and stored so, and a name breaking them refused (50035)", async () => {
    const hook = (await rest.post(Routes.channelWebhooks(standIn.channelId), { body: { name: 'chorus-names' } })) as { id: string; token: string };
    const execute = (username: string) =>
      fetch(`${standIn.restUrl}/v10/webhooks/${hook.id}/${hook.token}?wait=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'hi', username }) });
    const trimmed = await execute('  Big   Opus ');
    expect(trimmed.status).toBe(200);
    expect(((await trimmed.json()) as { author: { username: string } }).author.username).toBe('Big Opus');
    for (const bad of ['Clyde', 'my discord bot', '@Opus', 'Opus #2', 'GPT: base', 'a ``` b', 'everyone', 'Here', '   ']) {
      const r = await execute(bad);
      expect([bad, r.status, ((await r.json()) as { code: number }).code]).toEqual([bad, 400, 50035]);
    }
  });

  it('honours allowed_mentions for webhook content', async () => {
    const hook = (await rest.post(Routes.channelWebhooks(standIn.channelId), { body: { name: 'mentions' } })) as { id: string; token: string };
    const execute = (body: Record<string, unknown>) =>
      rest.post(Routes.webhook(hook.id, hook.token), { body, query: new URLSearchParams({ wait: 'true' }), auth: false }) as Promise<{ id: string }>;

    const quiet = await execute({ content: '@everyone hi <@123456789012345678>', username: 'Quiet', allowed_mentions: { parse: [] } });
    expect(standIn.messages().find((m) => m.id === quiet.id)?.pinged).toEqual({ everyone: false, users: [], roles: [] });

    const loud = await execute({ content: '@everyone hi <@123456789012345678>', username: 'Loud' });
    const stored = standIn.messages().find((m) => m.id === loud.id);
    expect(stored?.pinged).toEqual({ everyone: true, users: ['123456789012345678'], roles: [] });
    expect(stored?.mention_everyone).toBe(true);
  });

  it('edits webhook messages, re-applying allowed_mentions', async () => {
    const hook = (await rest.post(Routes.channelWebhooks(standIn.channelId), { body: { name: 'editor' } })) as { id: string; token: string };
    const posted = (await rest.post(Routes.webhook(hook.id, hook.token), {
      body: { content: 'draft' },
      query: new URLSearchParams({ wait: 'true' }),
      auth: false,
    })) as { id: string };
    const updated = nextEvent<[Message | null, Message]>(client, Events.MessageUpdate as string);
    await rest.patch(Routes.webhookMessage(hook.id, hook.token, posted.id), {
      body: { content: 'final @everyone', allowed_mentions: { parse: [] } },
      auth: false,
    });
    await updated;
    const stored = standIn.messages().find((m) => m.id === posted.id);
    expect(stored?.content).toBe('final @everyone');
    expect(stored?.edited_timestamp).not.toBeNull();
    expect(stored?.pinged.everyone).toBe(false);
  });

  it('nextMessage resolves on the next matching message without polling', async () => {
    const next = standIn.nextMessage((m) => m.content === 'wanted');
    await standIn.userSays({ content: 'not this' });
    await standIn.userSays({ content: 'wanted' });
    expect((await next).content).toBe('wanted');
  });

  it('executes a webhook into a thread of its channel', async () => {
    const threadId = standIn.addChannel({ thread: true, name: 'side-talk' });
    await new Promise((r) => setTimeout(r, 20)); // let THREAD_CREATE reach the client cache
    expect(client.channels.cache.get(threadId)?.isThread()).toBe(true);
    const hook = (await rest.post(Routes.channelWebhooks(standIn.channelId), { body: { name: 'threads' } })) as { id: string; token: string };
    const posted = (await rest.post(Routes.webhook(hook.id, hook.token), {
      body: { content: 'in thread', username: 'Ada' },
      query: new URLSearchParams({ wait: 'true', thread_id: threadId }),
      auth: false,
    })) as { channel_id: string };
    expect(posted.channel_id).toBe(threadId);
  });

  it("archives threads as Discord does: the bot's messages refused (50083), a webhook post or Modify Channel unarchives", async () => {
    const threadId = standIn.addChannel({ thread: true, name: 'archived-talk' });
    const hook = (await rest.post(Routes.channelWebhooks(standIn.channelId), { body: { name: 'archive' } })) as { id: string; token: string };
    const archived = async () => ((await rest.get(Routes.channel(threadId))) as { thread_metadata: { archived: boolean } }).thread_metadata.archived;
    standIn.archiveThread(threadId);
    expect(await archived()).toBe(true);
    await expect(rest.post(Routes.channelMessages(threadId), { body: { content: 'hello?' } })).rejects.toMatchObject({ code: 50083 });
    await rest.post(Routes.webhook(hook.id, hook.token), { body: { content: 'reopened', username: 'Ada' }, query: new URLSearchParams({ wait: 'true', thread_id: threadId }), auth: false });
    expect(await archived()).toBe(false);
    standIn.archiveThread(threadId);
    await rest.patch(Routes.channel(threadId), { body: { archived: false } });
    expect(await archived()).toBe(false);
    await rest.post(Routes.channelMessages(threadId), { body: { content: 'hello again' } });
  });

  it('runs a slash command interaction end to end', async () => {
    await rest.put(Routes.applicationGuildCommands(standIn.applicationId, standIn.guildId), {
      body: [{ name: 'ask', description: 'ask the chorus' }],
    });
    const got = nextEvent<import('discord.js').Interaction>(client, Events.InteractionCreate);
    await standIn.userRunsCommand({ name: 'ask' });
    const interaction = await got;
    if (!interaction.isChatInputCommand()) throw new Error('expected a chat input command');
    expect(interaction.commandName).toBe('ask');
    await interaction.deferReply();
    await interaction.editReply({ content: 'answered', allowedMentions: { parse: [] } });
    await interaction.followUp({ content: 'and more' });
    const contents = standIn.messages().slice(-2).map((m) => [m.content, m.flags]);
    expect(contents).toEqual([['answered', 0], ['and more', 0]]);
  });

  it('resumes (op 6 -> RESUMED) after op 7 RECONNECT and keeps receiving messages', async () => {
    const resumed = nextEvent<number>(client, Events.ShardResume);
    standIn.requestReconnect();
    await resumed;
    const seen = nextEvent<Message>(client, Events.MessageCreate, (m) => m.content === 'after resume');
    await standIn.userSays({ content: 'after resume' });
    expect((await seen).content).toBe('after resume');
  });

  it('rejects bad tokens and unknown routes like Discord', async () => {
    const bad = await fetch(`${standIn.restUrl}/v10/users/@me`, { headers: { Authorization: 'Bot wrong' } });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ message: '401: Unauthorized', code: 0 });
    expect(bad.headers.get('x-ratelimit-bucket')).toBeTruthy();

    const missing = await fetch(`${standIn.restUrl}/v10/nope`, { headers: { Authorization: `Bot ${standIn.token}` } });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: '404: Not Found', code: 0 });

    const unknown = await fetch(`${standIn.restUrl}/v10/channels/1/messages`, { headers: { Authorization: `Bot ${standIn.token}` } });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ message: 'Unknown Channel', code: 10003 });
    expect(unknown.headers.get('x-ratelimit-limit')).toBeTruthy();
  });
});

describe('Discord stand-in intents', () => {
  it('withholds message content from a client without MessageContent', async () => {
    const standIn = await startDiscordStandIn();
    const client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages], rest: { api: standIn.restUrl } });
    try {
      await client.login(standIn.token);
      await standIn.whenIdentified();
      const seen = nextEvent<Message>(client, Events.MessageCreate);
      await standIn.userSays({ content: 'secret' });
      expect((await seen).content).toBe('');
      const mentioned = nextEvent<Message>(client, Events.MessageCreate);
      await standIn.userSays({ content: `<@${standIn.botUser.id}> hi` });
      expect((await mentioned).content).toBe(`<@${standIn.botUser.id}> hi`);
    } finally {
      await client.destroy();
      await standIn.close();
    }
  });
});

describe('Discord stand-in rate limits', () => {
  it('answers 429 with Retry-After when enforcement is on', async () => {
    const standIn = await startDiscordStandIn({ enforceRateLimits: true });
    try {
      const auth = { Authorization: `Bot ${standIn.token}`, 'Content-Type': 'application/json' };
      const hook = (await (await fetch(`${standIn.restUrl}/v10/channels/${standIn.channelId}/webhooks`, {
        method: 'POST', headers: auth, body: JSON.stringify({ name: 'rl' }),
      })).json()) as { id: string; token: string };
      const statuses: number[] = [];
      let limited: Response | undefined;
      for (let i = 0; i < 6; i++) {
        const r = await fetch(`${standIn.restUrl}/v10/webhooks/${hook.id}/${hook.token}`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ content: `n${i}` }),
        });
        statuses.push(r.status);
        if (r.status === 429) limited = r;
      }
      expect(statuses).toEqual([204, 204, 204, 204, 204, 429]);
      expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await limited?.json()).toMatchObject({ message: 'You are being rate limited.', global: false });
      expect(standIn.messages()).toHaveLength(5);
    } finally {
      await standIn.close();
    }
  });
});
