import { REST } from '@discordjs/rest';
import { Client, Events, GatewayIntentBits, PermissionFlagsBits, PermissionsBitField, Routes } from 'discord.js';
import type { Guild, GuildChannel, GuildMember, Interaction, Message, Role } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDiscordStandIn } from '../../local-discord/server.ts';
import type { DiscordStandIn } from '../../local-discord/server.ts';
import { nextEvent } from '../stand-ins/client-events.ts';

const bob = { id: '555555555555555555', username: 'bob' };
const ALL = Object.values(PermissionFlagsBits).reduce((a, b) => a | b, 0n);

describe('Discord stand-in: roles and permissions per member', () => {
  let standIn: DiscordStandIn;
  let client: Client;
  let rest: REST;
  let guild: Guild;

  /** Runs a command as `author` in `channelId`; resolves with the interaction discord.js built. */
  async function command(channelId: string, author = bob): Promise<Interaction> {
    const got = nextEvent<Interaction>(client, Events.InteractionCreate);
    await standIn.userRunsCommand({ name: 'ask', channelId, author });
    return got;
  }
  /** Waits until discord.js has applied the CHANNEL_UPDATE for the change made by act(). */
  async function channelChange(act: () => void): Promise<void> {
    const updated = nextEvent<unknown>(client, Events.ChannelUpdate);
    act();
    await updated;
  }

  beforeAll(async () => {
    standIn = await startDiscordStandIn();
    client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent], rest: { api: standIn.restUrl } });
    rest = new REST({ api: standIn.restUrl, version: '10' }).setToken(standIn.token);
    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    await client.login(standIn.token);
    await ready;
    guild = client.guilds.cache.get(standIn.guildId) as Guild;
    const seen = nextEvent<Message>(client, Events.MessageCreate);
    await standIn.userSays({ content: 'hi', author: bob }); // bob joins, discord.js caches the member
    await seen;
  });
  afterAll(async () => {
    await client?.destroy();
    await standIn?.close();
  });

  it('GUILD_CREATE carries member roles; the bot holds a managed, non-administrator role', () => {
    const me = guild.members.me as GuildMember;
    expect(me.roles.cache.some((r) => r.managed && r.tags?.botId === standIn.botUser.id)).toBe(true);
    expect(me.permissions.has(PermissionFlagsBits.Administrator)).toBe(false);
    expect(me.permissions.has(PermissionFlagsBits.ManageWebhooks)).toBe(true);
    const alice = guild.members.cache.get(standIn.defaultUser.id);
    expect(alice?.roles.cache.map((r) => r.name)).toContain('moderator');
  });

  it('member.permissions of an interaction is computed as Discord does: @everyone, roles, overwrites (@everyone, roles, member)', async () => {
    const chan = standIn.addChannel({ name: 'perms' });
    const has = async (bit: bigint, channelId = chan) => (await command(channelId)).memberPermissions?.has(bit);
    expect(await has(PermissionFlagsBits.SendMessages)).toBe(true);
    expect(await has(PermissionFlagsBits.ManageChannels)).toBe(false);

    const created = nextEvent<Role>(client, Events.GuildRoleCreate);
    const mods = standIn.addRole({ name: 'mods', permissions: ['ManageChannels'] });
    expect((await created).id).toBe(mods);
    standIn.giveRole(bob.id, mods);
    const i = await command(chan);
    expect(i.memberPermissions?.has(PermissionFlagsBits.ManageChannels)).toBe(true);
    expect((i.member as GuildMember).roles.cache.has(mods)).toBe(true);

    await channelChange(() => standIn.denyPermission(chan, { roleId: mods }, 'ManageChannels'));
    expect(await has(PermissionFlagsBits.ManageChannels)).toBe(false);
    expect(await has(PermissionFlagsBits.ManageChannels, standIn.channelId)).toBe(true); // other channels unaffected
    await channelChange(() => standIn.allowPermission(chan, { userId: bob.id }, 'ManageChannels'));
    expect(await has(PermissionFlagsBits.ManageChannels)).toBe(true); // the member overwrite comes last

    await channelChange(() => standIn.denyPermission(chan, { roleId: standIn.guildId }, 'SendMessages'));
    expect(await has(PermissionFlagsBits.SendMessages)).toBe(false);
    await channelChange(() => standIn.allowPermission(chan, { roleId: mods }, 'SendMessages'));
    expect(await has(PermissionFlagsBits.SendMessages)).toBe(true); // a role allow beats an @everyone deny

    // discord.js computes the same from its cache of roles and overwrites.
    const channel = guild.channels.cache.get(chan) as GuildChannel;
    expect(channel.permissionOverwrites.cache.get(mods)?.deny.has(PermissionFlagsBits.ManageChannels)).toBe(true);
    expect(channel.permissionsFor(bob.id)?.bitfield).toBe(BigInt(standIn.permissionsIn(chan, bob.id)));

    const updated = nextEvent<[Role, Role]>(client, Events.GuildRoleUpdate as string);
    standIn.editRole(mods, { permissions: ['Administrator'] });
    await updated;
    expect((await command(chan)).memberPermissions?.bitfield).toBe(ALL); // Administrator: overwrites no longer apply
    expect(BigInt(standIn.permissionsIn(chan, bob.id))).toBe(ALL);
    const deleted = nextEvent<Role>(client, Events.GuildRoleDelete);
    standIn.deleteRole(mods);
    await deleted;
    expect(await has(PermissionFlagsBits.ManageChannels, standIn.channelId)).toBe(false);
    expect(await has(PermissionFlagsBits.ManageChannels)).toBe(true); // bob's own overwrite in chan remains
    // The guild owner has everything; an explicit bit set still overrides the computation.
    expect((await command(chan, { id: guild.ownerId, username: 'owner' })).memberPermissions?.bitfield).toBe(ALL);
    const got = nextEvent<Interaction>(client, Events.InteractionCreate);
    await standIn.userRunsCommand({ name: 'ask', channelId: chan, author: bob, permissions: '0' });
    expect((await got).memberPermissions?.bitfield).toBe(0n);
  });

  it('app_permissions and the REST checks follow the bot\'s computed permissions', async () => {
    const chan = standIn.addChannel({ name: 'bot-perms' });
    expect((await command(chan)).appPermissions?.has(PermissionFlagsBits.ManageWebhooks)).toBe(true);
    await channelChange(() => standIn.denyPermission(chan, 'ManageWebhooks'));
    expect((await command(chan)).appPermissions?.has(PermissionFlagsBits.ManageWebhooks)).toBe(false);
    await expect(rest.get(Routes.channelWebhooks(chan))).rejects.toMatchObject({ status: 403, code: 50013 });

    // A role given to the bot: GUILD_MEMBER_UPDATE reaches it without the GUILD_MEMBERS intent.
    const hooks = standIn.addRole({ name: 'hooks' });
    await channelChange(() => standIn.allowPermission(chan, { roleId: hooks }, 'ManageWebhooks'));
    expect((await command(chan)).appPermissions?.has(PermissionFlagsBits.ManageWebhooks)).toBe(false); // the bot's member deny wins
    const memberUpdate = nextEvent<GuildMember>(client, Events.GuildMemberUpdate, (old) => old.id === standIn.botUser.id);
    standIn.giveRole(standIn.botUser.id, hooks);
    await memberUpdate;
    expect(guild.members.me?.roles.cache.has(hooks)).toBe(true);

    // No View Channel: Discord answers 50001 Missing Access.
    await channelChange(() => standIn.denyPermission(chan, 'ViewChannel'));
    await expect(rest.post(Routes.channelMessages(chan), { body: { content: 'x' } })).rejects.toMatchObject({ status: 403, code: 50001, message: 'Missing Access' });
  });

  it('sends a channel\'s messages only to a bot that can view it', async () => {
    const hidden = standIn.addChannel({ name: 'hidden' });
    await channelChange(() => standIn.denyPermission(hidden, 'ViewChannel'));
    const seen: string[] = [];
    const listener = (m: Message) => void seen.push(m.content);
    client.on(Events.MessageCreate, listener);
    await standIn.userSays({ channelId: hidden, content: 'not for the bot', author: bob });
    const visible = nextEvent<Message>(client, Events.MessageCreate);
    await standIn.userSays({ content: 'for the bot', author: bob });
    await visible;
    client.off(Events.MessageCreate, listener);
    expect(seen).toEqual(['for the bot']);
  });

  it('threads inherit the parent\'s overwrites and need Send Messages in Threads', async () => {
    const parent = standIn.addChannel({ name: 'parent' });
    const thread = standIn.addChannel({ thread: true, parentId: parent });
    await rest.post(Routes.channelMessages(thread), { body: { content: 'ok' } });
    await channelChange(() => standIn.denyPermission(parent, 'SendMessagesInThreads'));
    await expect(rest.post(Routes.channelMessages(thread), { body: { content: 'no' } })).rejects.toMatchObject({ status: 403, code: 50013 });
    await rest.post(Routes.channelMessages(parent), { body: { content: 'still fine in the parent' } });
    expect(() => standIn.denyPermission(thread, 'SendMessages')).toThrow(/inherit/);
    expect(new PermissionsBitField(BigInt(standIn.permissionsIn(thread, standIn.botUser.id))).has('SendMessagesInThreads')).toBe(false);
  });

  it('MESSAGE_CREATE member carries roles; roles work per guild', async () => {
    const other = standIn.addGuild({ name: 'Other' });
    const role = standIn.addRole({ guildId: other.guildId, name: 'elsewhere' });
    expect(standIn.roles(other.guildId).map((r) => r.name)).toContain('elsewhere');
    expect(standIn.roles().map((r) => r.name)).not.toContain('elsewhere');
    standIn.giveRole(bob.id, role);
    const here = nextEvent<Message>(client, Events.MessageCreate, (m) => m.content === 'in other');
    await standIn.userSays({ channelId: other.channelId, content: 'in other', author: bob });
    const m = await here;
    expect(m.member?.roles.cache.has(role)).toBe(true);
    const home = nextEvent<Message>(client, Events.MessageCreate, (x) => x.content === 'at home');
    await standIn.userSays({ content: 'at home', author: bob });
    expect((await home).member?.roles.cache.has(role)).toBe(false);
    expect(() => standIn.allowPermission(standIn.channelId, { roleId: role }, 'SendMessages')).toThrow(/not in guild/);
  });
});
