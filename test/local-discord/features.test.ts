import { REST } from '@discordjs/rest';
import { Client, Events, GatewayIntentBits, PermissionFlagsBits, Routes } from 'discord.js';
import type { Interaction, Message, PartialMessage, Role, Typing } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDiscordStandIn } from '../../local-discord/server.ts';
import type { DiscordStandIn } from '../../local-discord/server.ts';
import { nextEvent } from '../stand-ins/client-events.ts';

describe('Discord stand-in: roles, permissions, attachments, edits, typing, options', () => {
  let standIn: DiscordStandIn;
  let client: Client;
  let rest: REST;

  beforeAll(async () => {
    standIn = await startDiscordStandIn({ token: 'test-token' });
    client = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent, GatewayIntentBits.GuildMessageTyping],
      rest: { api: standIn.restUrl },
    });
    rest = new REST({ api: standIn.restUrl, version: '10' }).setToken(standIn.token);
    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    await client.login(standIn.token);
    await ready;
    await rest.put(Routes.applicationGuildCommands(standIn.applicationId, standIn.guildId), {
      body: [{ name: 'interview', description: 'interviews', options: [{ type: 1, name: 'start', description: 'start one', options: [{ type: 3, name: 'persona', description: 'who', autocomplete: true }] }] }],
    });
  });

  afterAll(async () => {
    await client?.destroy();
    await standIn?.close();
  });

  it('creates, edits and deletes roles; discord.js keeps guild.roles.cache current', async () => {
    const guild = client.guilds.cache.get(standIn.guildId);
    if (!guild) throw new Error('no guild');
    const created = nextEvent<Role>(client, Events.GuildRoleCreate);
    const role = await guild.roles.create({ name: 'listeners', mentionable: true, permissions: [], colors: { primaryColor: 0x3366ff }, hoist: true });
    expect(role).toMatchObject({ name: 'listeners', mentionable: true, color: 0x3366ff, hoist: true });
    expect((await created).id).toBe(role.id);
    expect(guild.roles.cache.get(role.id)?.name).toBe('listeners');
    expect(standIn.roles()).toContainEqual({ id: role.id, name: 'listeners', mentionable: true });
    const listed = (await rest.get(Routes.guildRoles(standIn.guildId))) as { id: string }[];
    expect(listed.map((r) => r.id)).toContain(role.id);

    const updated = nextEvent<[Role, Role]>(client, Events.GuildRoleUpdate as string);
    await role.edit({ name: 'audience', mentionable: false });
    await updated;
    expect(guild.roles.cache.get(role.id)?.name).toBe('audience');
    expect(standIn.roles().find((r) => r.id === role.id)?.mentionable).toBe(false);

    const deleted = nextEvent<Role>(client, Events.GuildRoleDelete);
    await guild.roles.delete(role.id);
    expect((await deleted).id).toBe(role.id);
    expect(guild.roles.cache.has(role.id)).toBe(false);
    await expect(rest.delete(Routes.guildRole(standIn.guildId, standIn.guildId))).rejects.toMatchObject({ code: 50028 });
  });

  it('a user message with <@&role> carries mention_roles', async () => {
    const role = (await rest.post(Routes.guildRoles(standIn.guildId), { body: { name: 'pingable', mentionable: true } })) as { id: string };
    const seen = nextEvent<Message>(client, Events.MessageCreate, (m) => m.content.includes('calling'));
    const said = await standIn.userSays({ content: `calling <@&${role.id}>` });
    expect(said.mention_roles).toEqual([role.id]);
    expect((await seen).mentions.roles.has(role.id)).toBe(true);
  });

  it('denied permissions answer 403 Missing Permissions', async () => {
    const chan = standIn.addChannel({ name: 'locked' });
    standIn.denyPermission(chan, 'ManageWebhooks');
    for (const call of [() => rest.get(Routes.channelWebhooks(chan)), () => rest.post(Routes.channelWebhooks(chan), { body: { name: 'x' } })]) {
      const err = await call().catch((e: unknown) => e);
      expect((err as Error).name).toBe('DiscordAPIError[50013]');
      expect(err).toMatchObject({ status: 403, code: 50013, message: 'Missing Permissions' });
    }
    // Sending still works until SendMessages is denied too.
    await rest.post(Routes.channelMessages(chan), { body: { content: 'ok' } });
    standIn.denyPermission(chan, 'SendMessages');
    await expect(rest.post(Routes.channelMessages(chan), { body: { content: 'no' } })).rejects.toMatchObject({ status: 403, code: 50013 });
    const raw = await fetch(`${standIn.restUrl}/v10/channels/${chan}/messages`, {
      method: 'POST', headers: { Authorization: `Bot ${standIn.token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ content: 'no' }),
    });
    expect(await raw.json()).toEqual({ message: 'Missing Permissions', code: 50013 });
  });

  it('a command invoked by a member without Manage Channels carries their permissions', async () => {
    const got = nextEvent<Interaction>(client, Events.InteractionCreate);
    await standIn.userRunsCommand({ name: 'interview', options: [{ type: 1, name: 'start', options: [] }], permissions: String(PermissionFlagsBits.SendMessages) });
    const i = await got;
    expect(i.memberPermissions?.has(PermissionFlagsBits.ManageChannels)).toBe(false);
    expect(i.memberPermissions?.has(PermissionFlagsBits.SendMessages)).toBe(true);

    const admin = nextEvent<Interaction>(client, Events.InteractionCreate);
    await standIn.userRunsCommand({ name: 'interview', options: [{ type: 1, name: 'start', options: [] }] });
    expect((await admin).memberPermissions?.has(PermissionFlagsBits.ManageChannels)).toBe(true);
  });

  it('subcommands and string options reach interaction.options', async () => {
    const got = nextEvent<Interaction>(client, Events.InteractionCreate);
    await standIn.userRunsCommand({ name: 'interview', options: [{ type: 1, name: 'start', options: [{ type: 3, name: 'persona', value: 'Ada' }] }] });
    const i = await got;
    if (!i.isChatInputCommand()) throw new Error('expected a chat input command');
    expect(i.options.getSubcommand()).toBe('start');
    expect(i.options.getString('persona')).toBe('Ada');
    await i.reply({ content: 'started' });
    expect(standIn.messages().at(-1)?.content).toBe('started');
  });

  it('autocomplete: the focused option reaches the bot and its choices come back', async () => {
    const answered = nextEvent<Interaction>(client, Events.InteractionCreate).then(async (i) => {
      if (!i.isAutocomplete()) throw new Error('expected autocomplete');
      expect(i.options.getSubcommand()).toBe('start');
      const typed = i.options.getFocused();
      await i.respond([{ name: `${typed}a Lovelace`, value: 'ada' }]);
    });
    const choices = await standIn.userAutocompletes({
      name: 'interview',
      options: [{ type: 1, name: 'start', options: [{ type: 3, name: 'persona', value: 'Ad', focused: true }] }],
    });
    await answered;
    expect(choices).toEqual([{ name: 'Ada Lovelace', value: 'ada' }]);
  });

  it('user attachments carry Discord attachment objects whose URLs the stand-in serves', async () => {
    const seen = nextEvent<Message>(client, Events.MessageCreate, (m) => m.content === 'see files');
    const said = await standIn.userSays({
      content: 'see files',
      attachments: [{ filename: 'photo.png', contentType: 'image/png' }, { filename: 'notes.txt', contentType: 'text/plain; charset=utf-8', size: 64 }],
    });
    const m = await seen;
    const [photo, notes] = [...m.attachments.values()];
    expect(photo).toMatchObject({ name: 'photo.png', contentType: 'image/png', width: 1, height: 1 });
    expect(notes).toMatchObject({ name: 'notes.txt', size: 64, width: null });
    expect(said.attachments).toHaveLength(2);
    const png = await fetch(photo?.url ?? '');
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await png.arrayBuffer()).subarray(1, 4).toString()).toBe('PNG');
    const text = await fetch(notes?.proxyURL ?? '');
    expect(text.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect((await text.arrayBuffer()).byteLength).toBe(64);
    expect((await fetch(`${standIn.restUrl.replace('/api', '')}/attachments/1/2/none.txt`)).status).toBe(404);
  });

  it('users edit and delete their messages', async () => {
    const said = await standIn.userSays({ content: 'first draft' });
    const updated = new Promise<Message | PartialMessage>((resolve) => client.once(Events.MessageUpdate, (_old, m) => resolve(m)));
    const edited = await standIn.userEdits(said.id, 'second draft');
    expect(edited.edited_timestamp).not.toBeNull();
    const m = await updated;
    expect(m.id).toBe(said.id);
    expect(m.content).toBe('second draft');
    expect(m.editedTimestamp).toBe(Date.parse(edited.edited_timestamp ?? ''));
    const gone = nextEvent<Message | PartialMessage>(client, Events.MessageDelete);
    await standIn.userDeletes(said.id);
    expect((await gone).id).toBe(said.id);
    expect(standIn.messages().find((m) => m.id === said.id)?.deleted).toBe(true);
  });

  it('typing: POST /channels/{id}/typing answers 204 and dispatches TYPING_START', async () => {
    const channel = client.channels.cache.get(standIn.channelId);
    if (!channel?.isSendable()) throw new Error('channel not sendable');
    const typing = nextEvent<Typing>(client, Events.TypingStart);
    await channel.sendTyping();
    const t = await typing;
    expect(t.user.id).toBe(standIn.botUser.id);
    expect(t.channel.id).toBe(standIn.channelId);
    expect(standIn.restCalls.findLast((c) => c.path.endsWith('/typing'))?.status).toBe(204);
  });

  it('interactions keep Discord\'s deadlines: a first answer within 3 s, the token for 15 minutes', async () => {
    const interactionOf = async () => {
      const got = nextEvent<Interaction>(client, Events.InteractionCreate);
      await standIn.userRunsCommand({ name: 'interview', options: [{ type: 1, name: 'start', options: [] }] });
      const i = await got;
      if (!i.isChatInputCommand()) throw new Error('expected a chat input command');
      return i;
    };
    // Late: discord.js meets Discord's 10062.
    const late = await interactionOf();
    standIn.advanceClock(3_500);
    await expect(late.reply({ content: 'too late' })).rejects.toMatchObject({ code: 10062, status: 404 });
    // In time, then the token used after 15 minutes: 401 50027, and the callback is unknown again.
    const timely = await interactionOf();
    await timely.deferReply();
    standIn.advanceClock(10 * 60_000);
    await timely.editReply({ content: 'within the quarter hour' });
    expect(standIn.messages().at(-1)?.content).toBe('within the quarter hour');
    standIn.advanceClock(6 * 60_000);
    await expect(timely.editReply({ content: 'too late' })).rejects.toMatchObject({ code: 50027, status: 401 });
    await expect(timely.followUp({ content: 'too late' })).rejects.toMatchObject({ code: 50027, status: 401 });
    await expect(rest.post(Routes.interactionCallback(timely.id, timely.token), { body: { type: 4, data: { content: 'x' } }, auth: false })).rejects.toMatchObject({ code: 10062 });
  });
});
