// Slash commands through the stand-in's interaction flow, and their registration script.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';
import { plainBody } from '../support/bodies.ts';

let h: Harness;
beforeAll(async () => {
  // The key for the openai-hosted personas is unset: they must show as unavailable, not crash.
  h = await startHarness({ inProcessWorkers: 1, env: { TEST_OPENAI_KEY: '', DEFAULT_ROSTER: 'opus,legacy' } });
});
afterAll(async () => {
  await h?.close();
});

const opt = (name: string, value: string) => ({ type: 3, name, value });
/** Send Messages and View Channel, but not Manage Channels. */
const MEMBER = String((1n << 10n) | (1n << 11n));

describe('slash commands', () => {
  it('registers the commands in the configured guild with `npm run commands:register`', async () => {
    const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'commands:register'], {
      env: { PATH: process.env.PATH ?? '', ...h.env, DISCORD_GUILD_ID: h.discord.guildId },
    });
    expect(stdout).toMatch(/registered 8 command\(s\) in guild/);
    const put = h.discord.restCalls.find((c) => c.method === 'PUT' && c.path.endsWith(`/guilds/${h.discord.guildId}/commands`));
    expect((put?.body as { name: string }[]).map((c) => c.name).sort()).toEqual(['ask', 'config', 'dismiss', 'interview', 'persona', 'personas', 'summon', 'transcript']);
    // Offered in servers only: in a DM there is no member whose permissions could be checked.
    for (const c of put?.body as { contexts?: number[] }[]) expect(c.contexts).toEqual([0]);
  });

  it('/ask in a channel inside a category: answered in that channel, through its own webhook', async () => {
    const category = h.discord.addChannel({ name: 'Talk', category: true });
    const channelId = h.discord.addChannel({ name: 'in-a-category', parentId: category });
    h.anthropicHost.setResponder(() => ({ text: 'Answered beside the category.' }));
    const answer = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    expect(await h.command('ask', [opt('persona', 'opus'), opt('text', 'where am I?')], { channelId })).toMatch(/asks \*\*Opus\*\*/);
    expect((await answer).content).toBe('Answered beside the category.');
    await h.settled();
    expect(h.discord.restCalls.filter((c) => c.path.includes(`/channels/${category}/`))).toEqual([]);
  });

  it('answers a command it does not know (an old registration) plainly, and keeps every answer within Discord\'s 2,000 characters', async () => {
    expect(await h.command('nosuch')).toMatch(/not known to this version of chorus/);
    const many = Array.from({ length: 700 }, (_, i) => `unknown-persona-${i}`).join(',');
    const said = await h.command('config', [{ type: 1, name: 'set', options: [opt('key', 'roster'), opt('value', many)] }]);
    expect(said).toMatch(/^Not changed/);
    expect(said.length).toBeLessThanOrEqual(2000);
  });

  it('says why when Discord will not open an interview thread (a forum post, no Create Public Threads)', async () => {
    const channelId = h.discord.addChannel({ name: 'no-threads-here' });
    void h.discord.failNext((c) => c.method === 'POST' && c.path.endsWith(`/channels/${channelId}/threads`), { status: 400, body: { message: 'Invalid Form Body', code: 50035, errors: { message: { _errors: [{ code: 'BASE_TYPE_REQUIRED', message: 'This field is required' }] } } } });
    const said = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus')] }], { channelId });
    expect(said).toMatch(/^Discord would not open an interview thread here \(.*Invalid Form Body.*\)\. Run `\/interview start` in a text channel/);
  });

  it('finishes an /interview start cut short when the gateway gets it again (a replay after a crash): one thread, one header, one session', async () => {
    const channelId = h.discord.addChannel({ name: 'start-replayed' });
    const edited = (text: string) => h.discord.nextRestCall((c) => c.method === 'PATCH' && /%40original|@original/.test(c.path) && JSON.stringify(c.body ?? '').includes(text));
    // Discord posts the header but its answer never arrives: the command stops there.
    const cut = h.discord.failNext((c) => c.method === 'POST' && JSON.stringify(c.body ?? '').includes('This session is recorded'), { drop: true, accept: true });
    const failed = edited('Something went wrong');
    const { token } = await h.discord.userRunsCommand({ name: 'interview', options: [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus')] }], channelId });
    await cut;
    await failed;
    const opened = edited('Interview opened in');
    h.discord.replayInteraction(token);
    const body = (await opened).body as { content: string };
    const threadId = /<#(\d+)>/.exec(body.content)?.[1] ?? '';
    expect(h.discord.restCalls.filter((c) => c.method === 'POST' && c.path.endsWith(`/channels/${channelId}/threads`))).toHaveLength(1);
    expect(h.discord.messages(threadId).filter((m) => m.content.includes('This session is recorded'))).toHaveLength(1);
    const records = await h.records();
    expect(await records.sessions({ kind: 'interview', channelId: threadId })).toHaveLength(1);
  });

  it('still answers when its first answer to a command fails on Discord\'s side', async () => {
    const failed = h.discord.failNext((c) => c.path.includes('/callback'), { status: 500 });
    const fallback = h.discord.nextRestCall((c) => c.path.includes('/callback') && c.status === 204 && JSON.stringify(c.body).includes('Something went wrong'));
    await h.discord.userRunsCommand({ name: 'persona', options: [opt('name', 'opus')] });
    await failed;
    // A reply (the callback), not an edit of an original Discord never showed.
    expect((await fallback).body).toMatchObject({ type: 4, data: { content: 'Something went wrong running that command; it has been logged.', flags: 64 } });
  });

  it('/personas lists who is here and elsewhere, hosts, lifecycle dates, and the unavailable ones', async () => {
    const text = await h.command('personas');
    expect(text).toMatch(/\*\*Here\*\* \(2\)[\s\S]*\*\*Opus\*\*.*via 127\.0\.0\.1:\d+ \(1\/1 hosts\)/);
    expect(text).toMatch(/\*\*Legacy\*\*.*\(1\/2 hosts\)\n-# released 2024-03-04 · retired by its maker 2026-01-05/);
    expect(text).toMatch(/\*\*Elsewhere\*\* \(2\)[\s\S]*\*\*GPT\*\*.*\*\*unavailable\*\* \(unset: TEST_OPENAI_KEY\)/);
  });

  it('/persona shows one persona, and answers an unknown name clearly', async () => {
    expect(await h.command('persona', [opt('name', 'legacy')])).toMatch(/\*\*Legacy\*\* \(`legacy`\)[\s\S]*1\. 127\.0\.0\.1:\d+ · `claude-retired`[\s\S]*2\. second-host · `vendor\/claude-retired` \(openai\) — unavailable: TEST_OPENAI_KEY unset/);
    expect(await h.command('persona', [opt('name', 'nobody')])).toBe('There is no persona called "nobody". Try /personas to see who is here.');
  });

  it('/summon and /dismiss change the roster for moderators, and refuse everyone else', async () => {
    expect(await h.command('summon', [opt('persona', 'base')], { permissions: MEMBER })).toBe('Sorry — you need the Manage Channels permission to use /summon.');
    expect(await h.command('summon', [opt('persona', 'base')])).toMatch(/Base is now here/);
    expect(h.discord.roles().some((r) => r.name === 'Base' && r.mentionable)).toBe(true);
    expect(await h.command('summon', [opt('persona', 'base')])).toMatch(/^Base is already here\./);
    expect(await h.command('personas')).toMatch(/\*\*Here\*\* \(3\)/);
    expect(await h.command('dismiss', [opt('persona', 'opus')])).toMatch(/Opus has left this channel/);
    expect(await h.command('config', [{ type: 1, name: 'view', options: [] }])).toMatch(/\*\*roster\*\*: legacy, base — \*set here\*/);
  });

  it('/config sets and resets values, refuses bad ones and non-moderators', async () => {
    const set = (key: string, value: string, permissions?: string) =>
      h.command('config', [{ type: 1, name: 'set', options: [opt('key', key), opt('value', value)] }], permissions ? { permissions } : {});
    expect(await set('chainDepth', '3', MEMBER)).toBe('Sorry — you need the Manage Channels permission to use /config set.');
    expect(await set('chainDepth', 'lots')).toBe('Not changed: chainDepth must be a whole number from 0 to 10.');
    expect(await set('chainDepth', '3')).toMatch(/\*\*chainDepth\*\*: 3 — \*set here\*/);
    expect(await h.command('config', [{ type: 1, name: 'reset', options: [opt('key', 'chainDepth')] }])).toMatch(/\*\*chainDepth\*\*: 2 — \*default\*/);
  });

  it('/ask puts a question to any persona, shown in the channel, answered by the persona', async () => {
    h.anthropicHost.setResponder(() => ({ text: 'Asked and answered.' }));
    const request = h.anthropicHost.nextRequest();
    const answer = h.discord.nextMessage((m) => m.author.username === 'Opus');
    expect(await h.command('ask', [opt('persona', 'opus'), opt('text', 'what is a chorus?')])).toMatch(/\*\*Alice\*\* asks \*\*Opus\*\*: what is a chorus\?/);
    expect((await answer).content).toBe('Asked and answered.');
    const body = plainBody((await request).body) as { messages: { content: string }[] };
    expect(body.messages.at(-1)?.content).toMatch(/Alice: what is a chorus\?$/);
  });

  it('offers personas in autocomplete', async () => {
    const choices = await h.discord.userAutocompletes({ name: 'summon', options: [{ type: 3, name: 'persona', value: 'le', focused: true }] });
    expect(choices).toEqual([{ name: 'Legacy', value: 'legacy' }]);
  });
});

describe('who may do what where', () => {
  const bob = { id: '990000000000000001', username: 'bob', global_name: 'Bob' };
  const set = (channelId: string, key: string, value: string, scope?: 'guild') =>
    h.command('config', [{ type: 1, name: 'set', options: [opt('key', key), opt('value', value), ...(scope ? [opt('scope', scope)] : [])] }], { channelId, author: bob });

  it('lets Manage Channels on one channel change that channel, not the whole server', async () => {
    const channelId = h.discord.addChannel({ name: 'bobs-corner' });
    h.discord.allowPermission(channelId, { userId: bob.id }, 'ManageChannels');
    expect(await set(channelId, 'chainDepth', '3')).toMatch(/\*\*chainDepth\*\*: 3 — \*set here\*/);
    expect(await set(channelId, 'interjectionProbability', '1', 'guild')).toMatch(/^Sorry — you need the Manage Channels permission for the whole server/);
    expect((await h.stores.settings.resolve({ guildId: h.discord.guildId, channelId: h.discord.channelId })).values.interjectionProbability).toBe(0);
    // A role that grants it across the server does.
    const role = h.discord.addRole({ name: 'mods', permissions: ['ManageChannels'] });
    h.discord.giveRole(bob.id, role);
    expect(await set(channelId, 'repliesPerMinute', '30', 'guild')).toMatch(/\*\*repliesPerMinute\*\*: 30 — \*from the server\*/);
  });

  it('lets no one make a persona speak through /ask where they may not speak themselves', async () => {
    const channelId = h.discord.addChannel({ name: 'announcements' });
    h.discord.denyPermission(channelId, { userId: bob.id }, 'SendMessages');
    const visible = () => h.discord.messages(channelId).filter((m) => (m.flags & 64) === 0);
    expect(await h.command('ask', [opt('persona', 'opus'), opt('text', 'say something')], { channelId, author: bob })).toMatch(/^Sorry — you cannot send messages in this channel/);
    await h.settled();
    expect(visible()).toEqual([]);
  });

  it('/ask where chorus cannot post says so privately, and shows no question that would go unanswered', async () => {
    const channelId = h.discord.addChannel({ name: 'no-webhooks' });
    h.discord.denyPermission(channelId, 'ManageWebhooks');
    expect(await h.command('ask', [opt('persona', 'opus'), opt('text', 'are you there?')], { channelId })).toMatch(/^chorus cannot post answers here: it needs \*\*Manage Webhooks\*\* in this channel/);
    await h.settled();
    expect(h.discord.messages(channelId).filter((m) => m.content.includes('asks **Opus**'))).toEqual([]);
  });

  it('/ask whose token expired before its answer (15 minutes over): the question is posted in the channel by the bot, and answered', async () => {
    const channelId = h.discord.addChannel({ name: 'late-ask' });
    h.anthropicHost.setResponder(() => ({ text: 'Answered all the same.' }));
    // The gateway stalls for 16 minutes after its first answer (the stand-in's clock moves on).
    h.discord.beforeRespond = (call) => {
      if (call.path.includes('/callback')) h.discord.advanceClock(16 * 60_000);
    };
    const refused = h.discord.nextRestCall((c) => c.method === 'PATCH' && /%40original|@original/.test(c.path));
    const shown = h.discord.nextMessage((m) => m.channel_id === channelId && m.webhook_id === undefined && m.content.includes('asks **Opus**'));
    const answer = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userRunsCommand({ name: 'ask', options: [opt('persona', 'opus'), opt('text', 'are you there?')], channelId });
    expect((await refused).status).toBe(401);
    h.discord.beforeRespond = undefined;
    expect((await shown).content).toMatch(/^\*\*[^*]+\*\* asks \*\*Opus\*\*: are you there\?$/);
    expect((await answer).content).toBe('Answered all the same.');
    await h.settled();
  });

  it('an interaction Discord no longer takes (10062: answered after its 3 seconds) is not answered twice', async () => {
    const channelId = h.discord.addChannel({ name: 'too-late' });
    const refused = h.discord.nextRestCall((c) => c.path.includes('/callback'));
    const { id } = await h.discord.userRunsCommand({ name: 'ask', options: [opt('persona', 'opus'), opt('text', 'hello?')], channelId });
    // Four seconds pass before the gateway answers (a restart, a stall): Discord no longer waits.
    h.discord.advanceClock(4_000);
    expect((await refused).status).toBe(404);
    // A command after it is answered (the gateway went on), and the late one was tried once.
    expect(await h.command('personas')).toMatch(/Opus/);
    expect(h.discord.restCalls.filter((c) => c.path.includes(`/interactions/${id}/`))).toHaveLength(1);
    await h.settled();
    expect(h.discord.messages(channelId)).toEqual([]);
  });
});

describe('a transcript larger than Discord takes in one answer', () => {
  let small: Harness;
  beforeAll(async () => {
    // A server whose upload limit is 80 KiB (Discord's is 10 MiB unboosted): a small transcript outgrows it.
    small = await startHarness({ inProcessWorkers: 1, discord: { uploadLimitBytes: 80 * 1024 } });
  });
  afterAll(() => small?.close());

  it('/transcript export attaches it compressed rather than failing (413)', async () => {
    const channelId = small.discord.addChannel({ name: 'long-recording' });
    expect(await small.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    small.anthropicHost.setResponder(() => ({ text: `A considered answer. ${'More words to keep. '.repeat(40)}` }));
    for (let i = 0; i < 8; i++) {
      const answered = small.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
      await small.discord.userSays({ channelId, content: `Opus, question ${i}: ${'a long and winding question '.repeat(25)}` });
      await answered;
    }
    await small.settled();
    const edit = small.discord.nextRestCall((c) => c.method === 'PATCH' && /%40original|@original/.test(c.path));
    const said = await small.command('transcript', [{ type: 1, name: 'export', options: [] }], { channelId });
    expect(said).toMatch(/gzip-compressed/);
    const call = await edit;
    expect(call.status).toBe(200);
    expect(((call.body as { _files?: { filename: string }[] })._files ?? []).map((f) => f.filename).sort()).toEqual([expect.stringMatching(/\.jsonl\.gz$/), expect.stringMatching(/\.md\.gz$/)]);
    expect(small.discord.restCalls.filter((c) => c.status === 413)).toEqual([]);
  });
});
