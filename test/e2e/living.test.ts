// A channel as a conversation: ordered turns, models answering models within limits, streaming,
// history from the cache, mentions through roles, interjections, edits and missing permissions.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RecordedRequest } from '../stand-ins/model-host.ts';
import { startHarness, type Harness } from './harness.ts';
import { plainBody } from '../support/bodies.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { PERSONA_COOLDOWN_SECONDS: '0' } });
});
afterAll(async () => {
  await h?.close();
});
afterEach(async () => {
  await h.settled();
  h.anthropicHost.setResponder(() => ({ text: 'ok' }));
  h.openaiHost.setResponder(() => ({ text: 'ok' }));
});

const personaPosts = (channelId: string) => h.discord.messages(channelId).filter((m) => m.webhook_id !== undefined);
const lastUserText = (req: RecordedRequest): string => {
  const body = plainBody(req.body as { messages?: { role: string; content: unknown }[]; prompt?: string });
  if (body.prompt) return body.prompt;
  const last = body.messages?.filter((m) => m.role === 'user').at(-1)?.content;
  return typeof last === 'string' ? last : JSON.stringify(last);
};

describe('a three-persona conversation with chain depth 2', () => {
  it('answers in order, each persona seeing the answers before it, and stops at the depth', async () => {
    const channelId = h.discord.addChannel({ name: 'salon' });
    const seen: Record<string, string> = {};
    h.anthropicHost.setResponder((req) => {
      seen.opus = lastUserText(req);
      return { text: 'I think Base should weigh in on this.' };
    });
    h.openaiHost.setResponder((req) => {
      if (req.api === 'completions') {
        seen.base = lastUserText(req);
        return { text: ' Opus, you started it.' }; // would go on, but the chain is at its depth
      }
      seen.gpt = lastUserText(req);
      return { text: 'Agreed, a fine question.' };
    });
    await h.discord.userSays({ channelId, content: 'Opus and GPT: is a chorus a choir?' });
    await h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Base');
    await h.settled();

    expect(personaPosts(channelId).map((m) => `${m.author.username}: ${m.content}`)).toEqual([
      'Opus: I think Base should weigh in on this.',
      'GPT: Agreed, a fine question.',
      'Base: Opus, you started it.',
    ]);
    expect(seen.opus).toBe('Alice: Opus and GPT: is a chorus a choir?');
    expect(seen.gpt).toBe('Alice: Opus and GPT: is a chorus a choir?\n\nOpus: I think Base should weigh in on this.');
    expect(seen.base).toMatch(/Alice: Opus and GPT: is a chorus a choir\?\nOpus: I think Base should weigh in on this\.\nGPT: Agreed, a fine question\.\nBase:$/);
    const chain = h.outcomes.filter((o) => o.job.channelId === channelId).map((o) => [o.turn.personaId, o.turn.reason, o.turn.depth]);
    expect(chain).toEqual([
      ['opus', 'named', 1],
      ['gpt', 'named', 1],
      ['base', 'named', 2],
    ]);
  });
});

describe('history without refetching', () => {
  it('never reads Discord history for a channel made while it runs: the gateway has seen all of it', async () => {
    const channelId = h.discord.addChannel({ name: 'new-room' });
    await h.discord.userSays({ channelId, content: 'the first thing ever said here' });
    const request = h.anthropicHost.nextRequest();
    const post = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, what was said first?' });
    await post;
    await h.settled();
    expect(JSON.stringify((await request).body)).toContain('the first thing ever said here');
    expect(h.discord.restCalls.filter((c) => c.method === 'GET' && c.path.endsWith(`/channels/${channelId}/messages`))).toHaveLength(0);
  });

  it('reads Discord for a channel first said something in while no gateway session existed', async () => {
    const channelId = h.discord.addChannel({ name: 'gap' }); // learned with nothing ever said
    const epochKey = `${h.config.CHORUS_PREFIX}:gateway-epoch`;
    const epoch = await h.redis.get(epochKey);
    h.discord.invalidateSessions();
    await h.discord.userSays({ channelId, content: 'said while chorus was not listening' });
    await vi.waitFor(async () => expect(await h.redis.get(epochKey)).not.toBe(epoch), { timeout: 10_000, interval: 20 });
    const request = h.anthropicHost.nextRequest();
    const post = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, what was said before?' });
    await post;
    await h.settled();
    expect(JSON.stringify((await request).body)).toContain('said while chorus was not listening');
  });

  it('reads Discord for a channel spoken in while it could not see it, once a role lets it', async () => {
    const channelId = h.discord.addChannel({ name: 'backroom' }); // learned with nothing ever said
    const roleId = h.discord.addRole({ name: 'backroom-access' });
    h.discord.denyPermission(channelId, { roleId: h.discord.guildId }, 'ViewChannel'); // @everyone
    h.discord.allowPermission(channelId, { roleId }, 'ViewChannel');
    await h.discord.userSays({ channelId, content: 'said where chorus could not see' });
    // Discord tells no channel event when the bot's roles change what it sees: only its member update.
    h.discord.giveRole(h.discord.botUser.id, roleId);
    const request = h.anthropicHost.nextRequest();
    const post = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, what was said in here?' });
    await post;
    await h.settled();
    expect(JSON.stringify((await request).body)).toContain('said where chorus could not see');
  });

  it('answers, once, what was asked while the gateway had no session', async () => {
    const channelId = h.discord.addChannel({ name: 'away' });
    const opus = () => personaPosts(channelId).filter((m) => m.author.username === 'Opus');
    h.anthropicHost.setResponder((req) => ({ text: lastUserText(req).includes('and now') ? 'the second' : 'the first' }));
    const first = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, are you there?' });
    await first;
    await h.settled();
    // Discord ends the session; the next one is fresh (READY), and Discord replays nothing into it.
    h.discord.invalidateSessions();
    const late = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, and now, here?' });
    expect((await late).content).toBe('the second');
    await h.settled();
    await h.discord.userSays({ channelId, content: 'no one is asked here' });
    await h.settled();
    // The message answered before the outage was read again with the rest, and not answered again.
    expect(opus().map((m) => m.content)).toEqual(['the first', 'the second']);
  });

  it('reads an edit made while the gateway had no session from Discord, once the history is read again', async () => {
    const channelId = h.discord.addChannel({ name: 'edited-away' });
    const said = await h.discord.userSays({ channelId, content: 'the capital is Lyon' });
    await h.routed(said.id);
    const epochKey = `${h.config.CHORUS_PREFIX}:gateway-epoch`;
    const epoch = await h.redis.get(epochKey);
    h.discord.invalidateSessions();
    await h.discord.userEdits(said.id, 'the capital is Paris'); // no session hears it
    await vi.waitFor(async () => expect(await h.redis.get(epochKey)).not.toBe(epoch), { timeout: 10_000, interval: 20 });
    const request = h.anthropicHost.nextRequest();
    await h.routed((await h.discord.userSays({ channelId, content: 'Opus, what is the capital?' })).id);
    const sent = JSON.stringify((await request).body);
    expect(sent).toContain('the capital is Paris');
    expect(sent).not.toContain('Lyon');
    await h.settled();
  });

  it('reads Discord history once for a channel with history it has not seen, then never again', async () => {
    const channelId = h.discord.addChannel({ name: 'quiet' });
    await h.discord.userSays({ channelId, content: 'an old message before chorus was asked anything' });
    // A fresh gateway session (Discord ended the old one): what was said before it is unknown to chorus.
    const epochKey = `${h.config.CHORUS_PREFIX}:gateway-epoch`;
    const epoch = await h.redis.get(epochKey);
    h.discord.invalidateSessions();
    await vi.waitFor(async () => expect(await h.redis.get(epochKey)).not.toBe(epoch), { timeout: 10_000, interval: 20 });
    // (The gateway's look for what it missed since it last heard here reads from a point, `after`.)
    const historyReads = () => h.discord.restCalls.filter((c) => c.method === 'GET' && c.path.endsWith(`/channels/${channelId}/messages`) && !c.query.after).length;
    const request = h.anthropicHost.nextRequest();
    for (let i = 0; i < 3; i++) {
      const post = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
      await h.discord.userSays({ channelId, content: `Opus, question ${i}` });
      await post;
      await h.settled();
    }
    expect(JSON.stringify((await request).body)).toContain('an old message before chorus was asked anything');
    expect(historyReads()).toBe(1);
    // A reply visible at once needs no typing indicator (each is a REST call)…
    const typing = () => h.discord.restCalls.filter((c) => c.path.endsWith(`/channels/${channelId}/typing`)).length;
    expect(typing()).toBe(0);
    // …one that keeps people waiting shows it, once.
    const typed = h.discord.nextRestCall((c) => c.path.endsWith(`/channels/${channelId}/typing`));
    h.anthropicHost.setResponder(() => ({ text: 'Thinking done.', hold: typed }));
    const slow = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, take your time' });
    expect((await slow).content).toBe('Thinking done.');
    await h.settled();
    expect(typing()).toBe(1);
  });

  it('shows one typing indicator for a channel, however many replies wait in it', async () => {
    const channelId = h.discord.addChannel({ name: 'typing-together' });
    const typing = () => h.discord.restCalls.filter((c) => c.path.endsWith(`/channels/${channelId}/typing`)).length;
    // Each model takes a second: long enough for every reply to want the indicator.
    h.anthropicHost.setResponder(() => ({ text: 'Opus, after a while.', delayMs: 1000 }));
    h.openaiHost.setResponder(() => ({ text: 'GPT, after a while.', delayMs: 1000 }));
    const replies = ['Opus', 'GPT'].map((name) => h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === name));
    await h.discord.userSays({ channelId, content: 'Opus, one question' });
    await h.discord.userSays({ channelId, content: 'GPT, another question' });
    await Promise.all(replies);
    await h.settled();
    expect(typing()).toBe(1);
  });

  it('reads a forward as forwarded words, answering no one for them', async () => {
    const channelId = h.discord.addChannel({ name: 'forwards' });
    const post = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, say something quotable' });
    const said = await post;
    await h.settled();
    // A forward of Opus's post: Discord sends it with an empty content, a reference of type 1 and the
    // forwarded words in a snapshot. It is not a reply to Opus.
    const forward = await h.discord.userSays({
      channelId,
      content: '',
      extra: { message_reference: { type: 1, message_id: said.id, channel_id: channelId }, message_snapshots: [{ message: { content: 'Opus, what about this?', timestamp: said.timestamp } }] },
    });
    expect(await h.routed(forward.id)).toBe(0);
    const kept = (await h.stores.history.recent(channelId, 10)).find((m) => m.id === forward.id);
    expect(kept?.content).toBe('[forwarded] Opus, what about this?');
    expect(kept?.replyToId).toBeUndefined();
    // Discord updates a forward (its embeds resolved) with the same empty content and snapshot.
    h.discord.dispatchRaw('MESSAGE_UPDATE', {
      id: forward.id,
      channel_id: channelId,
      guild_id: h.discord.guildId,
      author: { id: forward.author.id, username: forward.author.username },
      content: '',
      message_snapshots: [{ message: { content: 'Opus, what about this?', timestamp: said.timestamp } }],
    });
    await h.routed((await h.discord.userSays({ channelId, content: 'after the update' })).id);
    expect((await h.stores.history.recent(channelId, 10)).find((m) => m.id === forward.id)?.content).toBe('[forwarded] Opus, what about this?');
  });

  it('gives models edited text and leaves deleted messages out', async () => {
    const channelId = h.discord.addChannel({ name: 'edits' });
    const request = h.anthropicHost.nextRequest();
    const first = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, warm up' });
    await first;
    await request;
    await h.settled();
    const typo = await h.discord.userSays({ channelId, content: 'the capital is Lyon' });
    const secret = await h.discord.userSays({ channelId, content: 'my password is hunter2' });
    await h.discord.userEdits(typo.id, 'the capital is Paris');
    await h.discord.userDeletes(secret.id);
    const next = h.anthropicHost.nextRequest();
    const trigger = await h.discord.userSays({ channelId, content: 'Opus, what did I say?' });
    await h.routed(trigger.id);
    const text = JSON.stringify((await next).body);
    expect(text).toContain('the capital is Paris');
    expect(text).not.toContain('Lyon');
    expect(text).not.toContain('hunter2');
  });
});

describe('mentions, interjections and permissions', () => {
  it('answers a persona @-mentioned through its role, made when it is summoned', async () => {
    const channelId = h.discord.addChannel({ name: 'mentions' });
    // No roles are made at start-up (with many guilds that would be a burst of requests)…
    expect(h.discord.roles().find((r) => r.name === 'GPT')).toBeUndefined();
    // …but when a persona is summoned.
    await h.command('summon', [{ type: 3, name: 'persona', value: 'gpt' }], { channelId });
    const role = h.discord.roles().find((r) => r.name === 'GPT');
    expect(role?.mentionable).toBe(true);
    h.openaiHost.setResponder(() => ({ text: 'You rang?' }));
    const post = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'GPT');
    const request = h.openaiHost.nextRequest();
    await h.discord.userSays({ channelId, content: `<@&${role!.id}> are you there?` });
    expect((await post).content).toBe('You rang?');
    expect(lastUserText(await request)).toBe('Alice: @GPT are you there?');
  });

  it('reads a role mention by its name after a restart that resumed the session (no GUILD_CREATE)', async () => {
    const channelId = h.discord.addChannel({ name: 'role-names' });
    const roleId = h.discord.addRole({ name: 'Moderators', mentionable: true });
    await h.routed((await h.discord.userSays({ channelId, content: 'before' })).id);
    // Once the session's saved place (saved every 250 ms) is past the role's creation, a process
    // resuming from there is never told of the role.
    const sent = h.discord.gatewayStats().lastSeq;
    const saved = async () => (JSON.parse((await h.redis.get(`${h.config.CHORUS_PREFIX}:gateway-session:0`)) ?? '{}') as { sequence?: number }).sequence ?? 0;
    await vi.waitFor(async () => expect(await saved()).toBeGreaterThanOrEqual(sent));
    const resumes = h.discord.gatewayStats().resumes;
    await h.restartGateway();
    expect(h.discord.gatewayStats().resumes).toBe(resumes + 1);
    const said = await h.discord.userSays({ channelId, content: `hey <@&${roleId}> look` });
    await h.routed(said.id);
    expect((await h.stores.history.recent(channelId, 5)).map((m) => m.content)).toEqual(['before', 'hey @Moderators look']);
  });

  it('lets a roster persona join in when interjections are on', async () => {
    const channelId = h.discord.addChannel({ name: 'lively' });
    await h.gateway.services.settings.set('channel', channelId, 'roster', ['opus']);
    await h.gateway.services.settings.set('channel', channelId, 'interjectionProbability', 1);
    h.anthropicHost.setResponder(() => ({ text: 'Mind if I join?' }));
    const post = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'nice weather today' });
    expect((await post).content).toBe('Mind if I join?');
    await h.settled();
    expect(h.outcomes.find((o) => o.job.channelId === channelId)?.turn.reason).toBe('interjection');
  });

  it('says plainly when it lacks the webhook permission, and loses no other work', async () => {
    const channelId = h.discord.addChannel({ name: 'locked' });
    h.discord.denyPermission(channelId, 'ManageWebhooks');
    const notice = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.id === h.discord.botUser.id);
    await h.discord.userSays({ channelId, content: 'Opus, hello?' });
    expect((await notice).content).toMatch(/^Opus cannot speak here: chorus needs the \*\*Manage Webhooks\*\* permission in this channel\./);
    await h.settled();
    // Remembered: more messages there cost no request Discord would refuse, and no second notice.
    const callsBefore = h.discord.restCalls.length;
    for (const content of ['Opus, still there?', 'GPT, you?']) {
      const m = await h.discord.userSays({ channelId, content });
      await h.routed(m.id);
    }
    await h.settled();
    expect(h.discord.restCalls.slice(callsBefore).filter((c) => c.status === 403)).toEqual([]);
    expect(h.discord.messages(channelId).filter((m) => m.author.id === h.discord.botUser.id)).toHaveLength(1);
    const open = h.discord.addChannel({ name: 'open' });
    const post = h.discord.nextMessage((m) => m.channel_id === open && m.author.username === 'Opus');
    await h.discord.userSays({ channelId: open, content: 'Opus, and here?' });
    expect((await post).webhook_id).toBeDefined();
  });

  it('remembers the refusal for the threads of a channel too: their webhooks are the channel\'s', async () => {
    const channelId = h.discord.addChannel({ name: 'locked-parent' });
    h.discord.denyPermission(channelId, 'ManageWebhooks');
    const first = h.discord.addChannel({ name: 'first thread', parentId: channelId, thread: true });
    const notice = h.discord.nextMessage((m) => m.channel_id === first && m.author.id === h.discord.botUser.id);
    await h.discord.userSays({ channelId: first, content: 'Opus, hello?' });
    await notice;
    await h.settled();
    const callsBefore = h.discord.restCalls.length;
    const second = h.discord.addChannel({ name: 'second thread', parentId: channelId, thread: true });
    await h.routed((await h.discord.userSays({ channelId: second, content: 'Opus, and here?' })).id);
    await h.settled();
    expect(h.discord.restCalls.slice(callsBefore).filter((c) => c.status === 403)).toEqual([]);
  });

  it('forgets what it was refused in a server when it is added to it again', async () => {
    const channelId = h.discord.addChannel({ name: 'refused-then-readded' });
    await h.stores.access.refuse(channelId, h.discord.guildId, 'ManageWebhooks');
    h.discord.dispatchRaw('GUILD_CREATE', { id: h.discord.guildId, joined_at: new Date().toISOString() });
    await vi.waitFor(async () => expect([...(await h.stores.access.missing(channelId))]).toEqual([]));
  });
});
