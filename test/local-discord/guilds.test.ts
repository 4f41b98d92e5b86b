import { REST } from '@discordjs/rest';
import { Client, Events, GatewayIntentBits, Routes } from 'discord.js';
import type { Guild, Message, ThreadChannel } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { shardOf, startDiscordStandIn } from '../../local-discord/server.ts';
import type { DiscordStandIn } from '../../local-discord/server.ts';
import { nextEvent } from '../stand-ins/client-events.ts';
import { connectRaw } from './raw-gateway.ts';
import type { Frame, RawGateway } from './raw-gateway.ts';

const intents = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent];

describe('Discord stand-in: several guilds', () => {
  let standIn: DiscordStandIn;
  let client: Client | undefined;
  const raws: RawGateway[] = [];
  afterEach(async () => {
    for (const r of raws.splice(0)) r.ws.terminate();
    await client?.destroy();
    client = undefined;
    await standIn.close();
  });

  it('addGuild makes a guild with its own channels, roles, members, threads and commands', async () => {
    standIn = await startDiscordStandIn({ token: 'test-token' });
    client = new Client({ intents, rest: { api: standIn.restUrl } });
    await client.login(standIn.token);
    await standIn.whenIdentified();
    const joined = nextEvent<Guild>(client, Events.GuildCreate);
    const g = standIn.addGuild({ name: 'Second', channels: 3 });
    const guild = await joined;
    expect(guild.id).toBe(g.guildId);
    expect(guild.name).toBe('Second');
    expect(g.guildId).not.toBe(standIn.guildId);
    expect(guild.channels.cache.filter((c) => c.isTextBased()).size).toBe(3);
    expect(guild.channels.cache.get(g.channelId)?.name).toBe('general');
    expect(guild.roles.everyone.id).toBe(g.guildId);
    expect(standIn.roles(g.guildId)[0]?.id).toBe(g.guildId);
    expect(standIn.roles().map((r) => r.id)).not.toContain(g.guildId);

    const seen = nextEvent<Message>(client, Events.MessageCreate, (m) => m.content === 'hello second');
    await standIn.userSays({ channelId: g.channelId, content: 'hello second', author: { id: '333333333333333333', username: 'carol' } });
    const m = await seen;
    expect(m.guildId).toBe(g.guildId);
    expect(m.member?.id).toBe('333333333333333333');
    expect(standIn.messages(g.channelId).map((x) => x.content)).toEqual(['hello second']);
    expect(standIn.messages(standIn.channelId)).toEqual([]);

    const created = nextEvent<ThreadChannel>(client, Events.ThreadCreate);
    const threadId = standIn.addChannel({ guildId: g.guildId, thread: true, name: 'side' });
    const thread = await created;
    expect(thread.id).toBe(threadId);
    expect(thread.guildId).toBe(g.guildId);
    expect(thread.parentId).toBe(g.channelId);
    const extra = standIn.addChannel({ guildId: g.guildId, name: 'extra' });
    const rest = new REST({ api: standIn.restUrl, version: '10' }).setToken(standIn.token);
    expect(await rest.get(Routes.channel(extra))).toMatchObject({ guild_id: g.guildId, name: 'extra', position: 4 });
    expect(await rest.get(Routes.channel(g.channelId))).toMatchObject({ last_message_id: m.id });

    await rest.put(Routes.applicationGuildCommands(standIn.applicationId, g.guildId), { body: [{ name: 'ask', description: 'ask' }] });
    const got = nextEvent<import('discord.js').Interaction>(client, Events.InteractionCreate);
    await standIn.userRunsCommand({ name: 'ask', channelId: g.channelId });
    const interaction = await got;
    expect(interaction.guildId).toBe(g.guildId);
    expect(interaction.isChatInputCommand() && interaction.commandId).toBe(
      ((await rest.get(Routes.applicationGuildCommands(standIn.applicationId, g.guildId))) as { id: string }[])[0]?.id,
    );
  });

  it('shards like Discord: READY and GUILD_CREATE per shard, guild events only to the owning shard, the rest to shard 0', async () => {
    standIn = await startDiscordStandIn({ recommendedShards: 2 });
    const guilds = [standIn.guildId, ...[1, 2, 3].map(() => standIn.addGuild().guildId)];
    const onShard = (s: number) => guilds.filter((id) => shardOf(id, 2) === s);
    expect(onShard(0).length).toBeGreaterThan(0);
    expect(onShard(1).length).toBeGreaterThan(0);
    expect(shardOf(guilds[1] ?? '', 2)).toBe(Number((BigInt(guilds[1] ?? '') >> 22n) % 2n));

    const gatewayBot = await (await fetch(`${standIn.restUrl}/v10/gateway/bot`, { headers: { Authorization: `Bot ${standIn.token}` } })).json();
    expect(gatewayBot).toMatchObject({ shards: 2, session_start_limit: { total: 1000, remaining: 1000, max_concurrency: 1 } });

    const shards = [await connectRaw(standIn.gatewayUrl, standIn.token), await connectRaw(standIn.gatewayUrl, standIn.token)];
    raws.push(...shards);
    shards.forEach((s, i) => s.identify({ shard: [i, 2] }));
    for (const [i, s] of shards.entries()) {
      const ready = (await s.next((f) => f.t === 'READY')).d as { guilds: { id: string; unavailable: boolean }[]; shard: number[] };
      expect(ready.shard).toEqual([i, 2]);
      expect(ready.guilds).toEqual(onShard(i).map((id) => ({ id, unavailable: true })));
      await s.count((f) => f.t === 'GUILD_CREATE', onShard(i).length);
      expect(s.dispatches('GUILD_CREATE').map((f) => (f.d as { id: string }).id)).toEqual(onShard(i));
    }
    const after = (await (await fetch(`${standIn.restUrl}/v10/gateway/bot`, { headers: { Authorization: `Bot ${standIn.token}` } })).json()) as {
      session_start_limit: { remaining: number; reset_after: number };
    };
    expect(after.session_start_limit.remaining).toBe(998);
    expect(after.session_start_limit.reset_after).toBeGreaterThan(86_000_000);

    // A message in a shard-1 guild, then one in a shard-0 guild: frames arrive in order per socket.
    const chanOf = (guildId: string) => standIn.addChannel({ guildId, name: 'talk' });
    const [c0, c1] = [chanOf(onShard(0)[0] ?? ''), chanOf(onShard(1)[0] ?? '')];
    const isMessage = (content: string) => (f: Frame) => f.t === 'MESSAGE_CREATE' && (f.d as { content: string }).content === content;
    await standIn.userSays({ channelId: c1, content: 'for shard 1' });
    await standIn.userSays({ channelId: c0, content: 'for shard 0' });
    standIn.dispatchRaw('ENTITLEMENT_CREATE', { id: '1', sku_id: '2', application_id: standIn.applicationId, type: 8, deleted: false });
    await shards[0]?.next((f) => f.t === 'ENTITLEMENT_CREATE');
    await shards[1]?.next(isMessage('for shard 1'));
    expect(shards[0]?.frames.some(isMessage('for shard 1'))).toBe(false);
    expect(shards[0]?.frames.some(isMessage('for shard 0'))).toBe(true);
    expect(shards[1]?.frames.some(isMessage('for shard 0'))).toBe(false);
    expect(shards[1]?.frames.some((f) => f.t === 'ENTITLEMENT_CREATE')).toBe(false);
    // CHANNEL_CREATE from addChannel went to the owning shard only.
    expect(shards[1]?.dispatches('CHANNEL_CREATE').map((f) => (f.d as { id: string }).id)).toEqual([c1]);
  });

  it('discord.js with shards: "auto" reads /gateway/bot and gets every guild over two shards', async () => {
    standIn = await startDiscordStandIn({ recommendedShards: 2 });
    const other = standIn.addGuild({ name: 'Other' });
    client = new Client({ intents, shards: 'auto', rest: { api: standIn.restUrl } });
    const ready = new Promise<void>((resolve) => client?.once(Events.ClientReady, () => resolve()));
    await client.login(standIn.token);
    await ready;
    expect(client.ws.shards.size).toBe(2);
    expect(client.guilds.cache.map((g) => g.id).sort()).toEqual([standIn.guildId, other.guildId].sort());
    const seen = nextEvent<Message>(client, Events.MessageCreate, (m) => m.content === 'sharded');
    await standIn.userSays({ channelId: other.channelId, content: 'sharded' });
    expect((await seen).guild?.shardId).toBe(shardOf(other.guildId, 2));
  });

  it('closes 4010 for a shard id >= num_shards and 4011 when a shard would hold too many guilds', async () => {
    standIn = await startDiscordStandIn({ maxGuildsPerShard: 2 });
    standIn.addGuild();
    standIn.addGuild();
    const bad = await connectRaw(standIn.gatewayUrl, standIn.token);
    raws.push(bad);
    bad.identify({ shard: [2, 2] });
    expect((await bad.closed).code).toBe(4010);
    const unsharded = await connectRaw(standIn.gatewayUrl, standIn.token);
    raws.push(unsharded);
    unsharded.identify();
    expect(await unsharded.closed).toEqual({ code: 4011, reason: 'Sharding required' });
  });
});

describe('Discord stand-in at scale', () => {
  it('1,000 guilds x 10 channels and 20,000 userSays with one raw client connected', async () => {
    const standIn = await startDiscordStandIn();
    const raw = await connectRaw(standIn.gatewayUrl, standIn.token);
    try {
      raw.identify();
      await raw.next((f) => f.t === 'READY');
      const started = performance.now();
      const channels: string[] = [];
      for (let i = 0; i < 1000; i++) {
        const g = standIn.addGuild({ channels: 10 });
        channels.push(g.channelId);
      }
      const guildsMs = performance.now() - started;
      for (let i = 0; i < 20_000; i++) await standIn.userSays({ channelId: channels[i % channels.length] ?? '', content: `m${i}` });
      const saidMs = performance.now() - started;
      await raw.count((f) => f.t === 'MESSAGE_CREATE', 20_000);
      const totalMs = performance.now() - started;
      console.log(`stand-in scale: 1,000 guilds x 10 channels in ${guildsMs.toFixed(0)} ms; 20,000 userSays done at ${saidMs.toFixed(0)} ms; all MESSAGE_CREATE received at ${totalMs.toFixed(0)} ms`);
      expect(raw.dispatches('GUILD_CREATE')).toHaveLength(1001);
      expect(standIn.messages(channels[7])).toHaveLength(20);
      const chan = (await (await fetch(`${standIn.restUrl}/v10/channels/${channels[7]}`, { headers: { Authorization: `Bot ${standIn.token}` } })).json()) as { last_message_id: string };
      expect(chan.last_message_id).toBe(standIn.messages(channels[7]).at(-1)?.id);
      expect(totalMs).toBeLessThan(20_000);
    } finally {
      raw.ws.terminate();
      await standIn.close();
    }
  }, 60_000);
});
