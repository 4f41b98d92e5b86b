// The whole path of a message: discord.js gateway → route → BullMQ → worker → real SDKs →
// local model hosts → webhook post as the persona → ledger.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StandInMessage } from '../../local-discord/server.ts';
import { startHarness, type Harness } from './harness.ts';
import { plainBody } from '../support/bodies.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});
afterEach(() => {
  h.anthropicHost.setResponder(() => ({ text: 'ok' }));
  h.openaiHost.setResponder(() => ({ text: 'ok' }));
});

const byPersona = (name: string) => (m: StandInMessage) => m.webhook_id !== undefined && m.author.username === name;
const personaPosts = () => h.discord.messages().filter((m) => m.webhook_id !== undefined);

describe('spine', () => {
  it('answers a message naming two personas on different providers with exactly two posts', async () => {
    h.anthropicHost.setResponder(() => ({ text: 'Opus here: hello Alice.' }));
    h.openaiHost.setResponder(() => ({ text: 'GPT here: hi!' }));
    const before = personaPosts().length;
    const opusPost = h.discord.nextMessage(byPersona('Opus'));
    const gptPost = h.discord.nextMessage(byPersona('GPT'));
    const anthropicRequest = h.anthropicHost.nextRequest();
    const openaiRequest = h.openaiHost.nextRequest();

    await h.discord.userSays({ content: 'Opus and GPT, say hello' });
    const [opus, gpt] = await Promise.all([opusPost, gptPost]);

    expect(opus.content).toBe('Opus here: hello Alice.');
    expect(opus.avatar_url).toBe('https://cdn.example.org/opus.png');
    expect(gpt.content).toBe('GPT here: hi!');
    expect(gpt.avatar_url).toBe('https://cdn.example.org/gpt.png');

    const a = await anthropicRequest;
    expect(a.api).toBe('anthropic');
    expect(plainBody(a.body)).toMatchObject({
      model: 'claude-opus-test',
      system: 'You are Opus.',
      stream: true,
      messages: [{ role: 'user', content: 'Alice: Opus and GPT, say hello' }],
    });
    const o = await openaiRequest;
    expect(o.api).toBe('chat');
    expect(o.body).toMatchObject({
      model: 'gpt-test',
      temperature: 0.5,
      max_tokens: 300,
      stream: true,
      // Answers come one after another, each seeing those before it.
      messages: [
        { role: 'system', content: 'You are GPT.' },
        { role: 'user', content: 'Alice: Opus and GPT, say hello\n\nOpus: Opus here: hello Alice.' },
      ],
    });
    // Both jobs done: no third post turns up, and each persona answered once.
    await h.settled();
    expect(personaPosts().length - before).toBe(2);
  });

  it("routes a reply to a persona's post to that persona, whose own post is an assistant turn", async () => {
    h.anthropicHost.setResponder(() => ({ text: 'First answer.' }));
    const first = h.discord.nextMessage(byPersona('Opus'));
    await h.discord.userSays({ content: 'opus, a question' });
    const post = await first;
    await h.settled(); // the ledger has recorded the post

    h.anthropicHost.setResponder(() => ({ text: 'Follow-up answer.' }));
    const request = h.anthropicHost.nextRequest();
    const second = h.discord.nextMessage(byPersona('Opus'));
    await h.discord.userSays({ content: 'why is that?', replyTo: post.id });
    expect((await second).content).toBe('Follow-up answer.');
    const body = plainBody((await request).body) as { messages: { role: string; content: string }[] };
    expect(body.messages.slice(-2)).toEqual([
      { role: 'assistant', content: 'First answer.' },
      { role: 'user', content: 'Alice: why is that?' },
    ]);
  });

  it('falls through to the next host when the first answers "model not found"', async () => {
    h.anthropicHost.setResponder((req) =>
      (req.body as { model: string }).model === 'claude-retired'
        ? { status: 404, errorType: 'not_found_error', errorMessage: 'model: claude-retired' }
        : { text: 'ok' },
    );
    h.openaiHost.setResponder(() => ({ text: 'Still here, on another host.' }));
    const refused = h.anthropicHost.nextRequest();
    const served = h.openaiHost.nextRequest();
    const post = h.discord.nextMessage(byPersona('Legacy'));
    await h.discord.userSays({ content: 'Legacy, are you still around?' });
    expect((await post).content).toBe('Still here, on another host.');
    expect((await refused).body).toMatchObject({ model: 'claude-retired' });
    expect((await served).body).toMatchObject({ model: 'vendor/claude-retired' });
  });

  it('posts a short notice as the persona when every host refuses', async () => {
    h.anthropicHost.setResponder(() => ({ status: 404, errorType: 'not_found_error', errorMessage: 'gone' }));
    h.openaiHost.setResponder(() => ({ status: 403, errorType: 'permission_error', errorMessage: 'no' }));
    const post = h.discord.nextMessage(byPersona('Legacy'));
    await h.discord.userSays({ content: 'Legacy?' });
    const notice = await post;
    expect(notice.content).toMatch(/Legacy could not answer/);
    // In plain words: why, not where (no host addresses) and not the hosts' raw errors.
    expect(notice.content).toMatch(/no longer serves the model/);
    expect(notice.content).toMatch(/refused access/);
    expect(notice.content).not.toMatch(/127\.0\.0\.1|localhost|https?:|[{}]|HTTP \d/);
  });

  it('retries a passing failure (overloaded) and then answers', async () => {
    let calls = 0;
    h.anthropicHost.setResponder(() => (++calls === 1 ? { status: 529, errorType: 'overloaded_error', errorMessage: 'busy' } : { text: 'Back again.' }));
    const post = h.discord.nextMessage(byPersona('Opus'));
    await h.discord.userSays({ content: 'Opus, are you busy?' });
    expect((await post).content).toBe('Back again.');
    expect(calls).toBe(2);
  });

  it('never lets model output ping @everyone, roles or users', async () => {
    const victim = h.discord.defaultUser.id;
    h.anthropicHost.setResponder(() => ({ text: `@everyone @here look <@${victim}> <@&${h.discord.guildId}>` }));
    const post = h.discord.nextMessage(byPersona('Opus'));
    await h.discord.userSays({ content: 'Opus, shout' });
    const m = await post;
    expect(m.content).toContain('@everyone');
    expect(m.pinged).toEqual({ everyone: false, users: [], roles: [] });
    expect(m.mention_everyone).toBe(false);
  });

  it('splits a long answer into several posts within the limit', async () => {
    const long = Array.from({ length: 60 }, (_, i) => `Sentence number ${i} is here to take up some room in the reply.`).join(' ');
    h.openaiHost.setResponder(() => ({ text: long }));
    const before = personaPosts().length;
    const posts: Promise<StandInMessage>[] = [h.discord.nextMessage(byPersona('GPT'))];
    await h.discord.userSays({ content: 'GPT, write a lot' });
    await posts[0];
    const second = await h.discord.nextMessage(byPersona('GPT'));
    expect(second.content.length).toBeLessThanOrEqual(2000);
    const mine = personaPosts().slice(before);
    expect(mine.map((m) => m.content).join(' ')).toBe(long);
  });

  it('answers a base model through the legacy completions endpoint with a transcript prompt', async () => {
    await h.settled(); // an earlier test's follow-up posted after this trigger would end the prompt
    h.openaiHost.setResponder(() => ({ text: ' I remember the old days.' }));
    const request = h.openaiHost.nextRequest();
    const post = h.discord.nextMessage(byPersona('Base'));
    await h.discord.userSays({ content: 'Base, what do you remember?' });
    expect((await post).content).toBe('I remember the old days.');
    const req = await request;
    expect(req.api).toBe('completions');
    expect((req.body as { prompt: string }).prompt).toMatch(/^A chat log\.\n\n[\s\S]*Alice: Base, what do you remember\?\nBase:$/);
    expect((req.body as { stop: string[] }).stop).toContain('\nAlice:');
  });

  it('does not answer a message that names nobody', async () => {
    await h.settled();
    const calls = h.discord.restCalls.length;
    const requests = h.anthropicHost.requests.length + h.openaiHost.requests.length;
    const m = await h.discord.userSays({ content: 'just chatting among humans, opusy gpt4' });
    expect(await h.routed(m.id)).toBe(0);
    expect(await h.gateway.services.replies.queue.getJobCounts('wait', 'active', 'delayed')).toEqual({ wait: 0, active: 0, delayed: 0 });
    expect(h.anthropicHost.requests.length + h.openaiHost.requests.length).toBe(requests);
    expect(h.discord.restCalls.length).toBe(calls);
  });
});

describe('threads', () => {
  it("answers in a thread through the parent channel's webhook", async () => {
    const thread = h.discord.addChannel({ thread: true });
    h.anthropicHost.setResponder(() => ({ text: 'Hello from the thread.' }));
    const post = h.discord.nextMessage((m) => m.author.username === 'Opus' && m.channel_id === thread);
    await h.discord.userSays({ channelId: thread, content: 'Opus, in a thread?' });
    expect((await post).content).toBe('Hello from the thread.');
    const execute = h.discord.restCalls.findLast((c) => c.method === 'POST' && c.path.includes('/webhooks/'));
    expect(execute?.query).toMatchObject({ wait: 'true', thread_id: thread });
  });

  it("makes a new channel's first webhook while the model thinks, so the answer does not wait for it", async () => {
    const channelId = h.discord.addChannel({ name: 'fresh' });
    let answer!: () => void;
    const thinking = new Promise<void>((resolve) => (answer = resolve));
    h.anthropicHost.setResponder(() => ({ text: 'Ready when you are.', hold: thinking }));
    const created = h.discord.nextRestCall((c) => c.method === 'POST' && c.path.endsWith(`/channels/${channelId}/webhooks`));
    const post = h.discord.nextMessage((m) => m.channel_id === channelId && byPersona('Opus')(m));
    await h.discord.userSays({ channelId, content: 'Opus, are you there?' });
    expect((await created).status).toBe(200); // the host still holds its answer
    answer();
    expect((await post).content).toBe('Ready when you are.');
  });
});
