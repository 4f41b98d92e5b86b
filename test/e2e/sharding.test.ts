// Sharding: two gateway processes, one shard each, share Redis and workers; every message is
// answered once, by way of the process that holds its guild's shard. And one process alone runs
// every shard Discord recommends.
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../../local-discord/server.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ inProcessGateway: false, discord: { recommendedShards: 2 }, env: { GATEWAY_LEASE_MS: '3000' } });
  h.anthropicHost.setResponder((req) => ({ text: `Answer to: ${[...JSON.stringify(req.body).matchAll(/guild \d/g)].at(-1)?.[0] ?? 'that'}` }));
});
afterAll(async () => {
  await h?.close();
});

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** Message ids this gateway process routed, from its log. */
function routedBy(child: ChildProcess): Set<string> {
  const ids = new Set<string>();
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      const line = JSON.parse(l) as { msg?: string; messageId?: string };
      if (line.msg === 'routed' && line.messageId) ids.add(line.messageId);
    } catch {
      // not JSON
    }
  });
  return ids;
}

/** A guild whose shard (of 2) is `shard`. */
function guildOnShard(shard: number): { guildId: string; channelId: string } {
  for (;;) {
    const g = h.discord.addGuild({});
    if (shardOf(g.guildId, 2) === shard) return g;
  }
}

describe('sharding', () => {
  it('runs two gateway processes with a shard each, and answers every guild once', async () => {
    const g0 = guildOnShard(0);
    const g1 = guildOnShard(1);
    const first = await h.spawnGateway({ SHARD_COUNT: '2', SHARD_IDS: '0', LOG_LEVEL: 'debug' });
    const second = await h.spawnGateway({ SHARD_COUNT: '2', SHARD_IDS: '1', LOG_LEVEL: 'debug' });
    const routed = [routedBy(first), routedBy(second)];
    try {
      const posts = [g0, g1].map((g) => h.discord.nextMessage((m) => m.channel_id === g.channelId && m.author.username === 'Opus'));
      const said0 = await h.discord.userSays({ channelId: g0.channelId, content: 'Opus, guild 0' });
      const said1 = await h.discord.userSays({ channelId: g1.channelId, content: 'Opus, guild 1' });
      expect((await posts[0])!.content).toBe('Answer to: guild 0');
      expect((await posts[1])!.content).toBe('Answer to: guild 1');
      await h.settled();
      for (const g of [g0, g1]) expect(h.discord.messages(g.channelId).filter((m) => m.author.username === 'Opus')).toHaveLength(1);
      // Each message reached only the process holding its guild's shard.
      expect([...routed[0]!]).toContain(said0.id);
      expect([...routed[0]!]).not.toContain(said1.id);
      expect([...routed[1]!]).toContain(said1.id);
      expect([...routed[1]!]).not.toContain(said0.id);
    } finally {
      await Promise.all([stop(first), stop(second)]);
    }
  });

  it('runs every recommended shard in one process when SHARD_COUNT is auto', async () => {
    const g0 = guildOnShard(0);
    const g1 = guildOnShard(1);
    const sessions = () => h.discord.gatewayStats().identifies + h.discord.gatewayStats().resumes;
    const before = sessions();
    const gateway = await h.spawnGateway({ LOG_LEVEL: 'info' });
    try {
      const posts = [g0, g1].map((g) => h.discord.nextMessage((m) => m.channel_id === g.channelId && m.author.username === 'Opus'));
      await h.discord.userSays({ channelId: g0.channelId, content: 'Opus, guild 0' });
      await h.discord.userSays({ channelId: g1.channelId, content: 'Opus, guild 1' });
      await Promise.all(posts);
      // One session per shard, by /gateway/bot's count (resumed: the processes before saved theirs).
      expect(sessions()).toBe(before + 2);
    } finally {
      await stop(gateway);
    }
  });
});
