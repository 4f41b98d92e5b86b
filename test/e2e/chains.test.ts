// Personas talking to each other, within limits that hold however the turns interleave: a persona's
// cooldown is claimed when it is chosen (not when it has posted), and a chain under way obeys the
// roster and limits a moderator sets meanwhile. Against the stand-ins, with in-process workers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ inProcessWorkers: 2, env: { CHAIN_DEPTH: '6' } });
});
afterAll(() => h?.close());

const opt = (name: string, value: string) => ({ type: 3, name, value });
const postsBy = (channelId: string, name: string) => h.discord.messages(channelId).filter((m) => m.webhook_id !== undefined && m.author.username === name);
const modelOf = (r: { body: unknown }) => (r.body as { model?: string }).model;

describe('persona-to-persona turns', () => {
  it('two answers naming the same persona bring it in once (its cooldown is claimed as it is chosen)', async () => {
    const channelId = h.discord.addChannel({ name: 'siblings' });
    h.anthropicHost.setResponder((r) => ({ text: modelOf(r) === 'claude-retired' ? 'Legacy here.' : 'Legacy, what say you?' }));
    h.openaiHost.setResponder((r) => ({ text: modelOf(r) === 'vendor/claude-retired' ? 'Legacy here.' : 'Legacy, your view?' }));
    const both = Promise.all([
      h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus'),
      h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'GPT'),
    ]);
    await h.discord.userSays({ channelId, content: 'Opus and GPT: thoughts?' });
    await both;
    await h.settled();
    expect(postsBy(channelId, 'Legacy')).toHaveLength(1);
  });

  it('a chain under way stops for a persona dismissed meanwhile', async () => {
    const channelId = h.discord.addChannel({ name: 'dismissed' });
    expect(await h.command('config', [{ type: 1, name: 'set', options: [opt('key', 'cooldownSeconds'), opt('value', '0')] }], { channelId })).toMatch(/cooldownSeconds/);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    h.anthropicHost.setResponder(() => ({ text: 'GPT, your turn.', hold: held }));
    h.openaiHost.setResponder(() => ({ text: 'Opus, back to you.' }));
    const asked = h.anthropicHost.nextRequest();
    await h.discord.userSays({ channelId, content: 'Opus, start us off' });
    await asked;
    // While Opus is still answering, a moderator sends GPT away.
    expect(await h.command('dismiss', [opt('persona', 'gpt')], { channelId })).toMatch(/GPT/);
    release();
    await h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.settled();
    expect(postsBy(channelId, 'GPT')).toEqual([]);
    expect(postsBy(channelId, 'Opus')).toHaveLength(1);
  });
});

describe('what a recorded channel keeps of a chain', () => {
  it('each persona post says what it answered, why, and at what depth; exports hide the message id', async () => {
    const channelId = h.discord.addChannel({ name: 'recorded-chain' });
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    h.anthropicHost.setResponder(() => ({ text: 'GPT, what do you say?' }));
    h.openaiHost.setResponder(() => ({ text: 'I say yes.' }));
    const gptPost = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'GPT');
    const said = await h.discord.userSays({ channelId, content: 'Opus, open the discussion' });
    await gptPost;
    await h.settled();
    await h.recordsWritten();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    const events = await records.events(session!.id);
    const opusPost = events.find((e) => e.type === 'channel_message' && e.author.kind === 'persona' && e.author.personaId === 'opus');
    const gpt = events.find((e) => e.type === 'channel_message' && e.author.kind === 'persona' && e.author.personaId === 'gpt');
    expect(opusPost?.type === 'channel_message' && opusPost.trigger).toEqual({ discordMessageId: said.id, reason: 'named', depth: 1 });
    expect(gpt?.type === 'channel_message' && gpt.trigger).toEqual({ discordMessageId: opusPost?.type === 'channel_message' ? opusPost.discordMessageId : '', reason: 'named', depth: 2 });
    const { sessionExports } = await import('../../core/transcript/dataset.ts');
    const files = sessionExports(events, await records.optedOut());
    expect(files.jsonl).toContain('"reason":"named","depth":2');
    expect(files.jsonl).not.toContain(said.id);
  });
});

describe('an answer in the transcript form it was shown', () => {
  it('is posted without the persona\'s own name before it', async () => {
    const channelId = h.discord.addChannel({ name: 'own-name' });
    h.anthropicHost.setResponder(() => ({ text: '**Opus:** Hello there.' }));
    const posted = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, hello' });
    expect((await posted).content).toBe('Hello there.');
    await h.settled();
  });
});
