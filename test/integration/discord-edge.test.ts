// The workers' edge to Discord (core/discord.ts) against the Discord stand-in: finding a post whose
// answer was lost, however busy the channel became before the retry looked.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBotIdentity } from '../../core/application.ts';
import { createDiscordEdge, type DiscordEdge } from '../../core/discord.ts';
import { createRest } from '../../core/rest.ts';
import { deletePrefix } from '../../playground/redis.ts';
import { startDiscordStandIn, type DiscordStandIn } from '../../local-discord/server.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `edge-${process.pid}-${Date.now().toString(36)}`;
let discord: DiscordStandIn;
let edge: DiscordEdge;
const warnings: string[] = [];

beforeAll(async () => {
  discord = await startDiscordStandIn();
  const rest = createRest(discord.restUrl, discord.token);
  edge = createDiscordEdge({ rest, redis, prefix, identity: createBotIdentity(rest, redis, prefix, discord.token), poolSize: 3, onWarning: (m) => warnings.push(m) });
});
afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
  await discord.close();
});

const speaker = { personaId: 'opus', name: 'Opus' };
const listCalls = (channelId: string) => discord.restCalls.filter((c) => c.method === 'GET' && c.path.endsWith(`/channels/${channelId}/messages`)).length;

describe('looking for a post whose answer was lost', () => {
  it('finds it behind more than a page of later messages, reading back only as far as the trigger', async () => {
    const channelId = discord.addChannel({ name: 'busy-after' });
    const trigger = await discord.userSays({ channelId, content: 'Opus, a question' });
    const posted = await edge.postAs({ channelId }, speaker, 'The answer whose confirmation was lost.');
    for (let i = 0; i < 250; i++) await discord.userSays({ channelId, content: `chatter ${i}` });
    const before = listCalls(channelId);
    expect(await edge.findOwnPost({ channelId }, trigger.id, 'Opus', 'The answer whose confirmation was lost.')).toEqual(posted);
    expect(listCalls(channelId) - before).toBe(3); // 250 later messages, then the post: the third page
  });

  it('says no after reading back to the trigger, in one request when few messages followed', async () => {
    const channelId = discord.addChannel({ name: 'never-posted' });
    await discord.userSays({ channelId, content: 'before the trigger' });
    const trigger = await discord.userSays({ channelId, content: 'Opus, another question' });
    await discord.userSays({ channelId, content: 'Opus, not the answer' });
    const before = listCalls(channelId);
    expect(await edge.findOwnPost({ channelId }, trigger.id, 'Opus', 'An answer never sent.')).toBeUndefined();
    expect(listCalls(channelId) - before).toBe(1);
  });

  it('takes only our own post as the persona: not a person saying the same words', async () => {
    const channelId = discord.addChannel({ name: 'same-words' });
    const trigger = await discord.userSays({ channelId, content: 'Opus, say hi' });
    await discord.userSays({ channelId, content: 'hi' });
    expect(await edge.findOwnPost({ channelId }, trigger.id, 'Opus', 'hi')).toBeUndefined();
    expect(warnings).toEqual([]);
  });
});
