// The gateway as a process, against the stand-in: it survives payloads it cannot read, resumes its
// session after a restart so nothing said meanwhile is lost, never runs twice for one shard, routes
// only what people wrote, and says plainly why it cannot log in.
import { once } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';
import { numberAsked } from '../stand-ins/model-host.ts';

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return once(child, 'exit').then(([code]) => code as number | null);
}

/** Every JSON log line a process writes from now on. */
function logLines(child: ChildProcess): { msg: string; [k: string]: unknown }[] {
  const lines: { msg: string }[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as { msg: string });
    } catch {
      // not JSON
    }
  });
  return lines;
}

function stderrOf(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  return () => text;
}

const opusPosts = (h: Harness, channelId: string) => h.discord.messages(channelId).filter((m) => m.webhook_id !== undefined && m.author.username === 'Opus');

describe('a gateway process', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ inProcessGateway: false, env: { GATEWAY_LEASE_MS: '3000' } });
    h.anthropicHost.setResponder((req) => {
      const n = numberAsked(req);
      return { text: `Answer to: ${n === undefined ? 'that' : `number ${n}`}` };
    });
  });
  afterAll(async () => {
    await h?.close();
  });
  afterEach(async () => {
    // A gateway left by a failed test would hold the shard's lease from the next one.
    await h.stores.redis.del(`${h.config.CHORUS_PREFIX}:gateway-lease:0`);
  });

  it('skips an event it cannot read, logging its type and id, and goes on', async () => {
    const gateway = await h.spawnGateway();
    const logs = logLines(gateway);
    const channelId = h.discord.addChannel({ name: 'odd' });
    // Optional fields Discord documents, sent as null by another server: read as absent.
    const answered = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, number 1', extra: { application: { id: '1', name: 'x', install_params: null }, referenced_message: null, member: null } });
    expect((await answered).content).toBe('Answer to: number 1');
    // Payloads that do not fit at all: each costs itself, not the process.
    h.discord.dispatchRaw('MESSAGE_CREATE', { id: '101', channel_id: channelId, guild_id: h.discord.guildId, content: 'Opus, no author', timestamp: new Date().toISOString(), type: 0 });
    h.discord.dispatchRaw('MESSAGE_CREATE', { id: '102', channel_id: channelId, guild_id: h.discord.guildId, author: 'nobody', content: 'Opus?', timestamp: new Date().toISOString(), type: 0 });
    h.discord.dispatchRaw('GUILD_ROLE_UPDATE', { guild_id: h.discord.guildId, role: null });
    const after = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, number 2' });
    expect((await after).content).toBe('Answer to: number 2');
    const skipped = logs.filter((l) => l.msg === 'an event chorus cannot read was skipped');
    expect(skipped.map((l) => `${String(l.type)} ${String(l.id)}`).sort()).toEqual(['GUILD_ROLE_UPDATE undefined', 'MESSAGE_CREATE 101', 'MESSAGE_CREATE 102']);
    expect(gateway.exitCode).toBeNull();
    await h.settled();
    expect(opusPosts(h, channelId)).toHaveLength(2);
    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
  });

  it('routes only what people wrote: a thread named after a persona, pins and joins start no reply', async () => {
    const gateway = await h.spawnGateway();
    const channelId = h.discord.addChannel({ name: 'system' });
    const said = await h.discord.userSays({ channelId, content: 'a message to pin' });
    const created = await h.discord.userCreatesThread({ channelId, name: 'Opus' });
    expect(created.message.type).toBe(18);
    await h.discord.systemMessage({ channelId, type: 6, messageId: said.id });
    await h.discord.systemMessage({ channelId, type: 7, content: '' });
    // A person's message after them is answered, and reads none of them as said by someone.
    const request = h.anthropicHost.nextRequest();
    const answered = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, number 3' });
    await answered;
    await h.settled();
    expect(opusPosts(h, channelId)).toHaveLength(1);
    const sent = JSON.stringify((await request).body);
    expect(sent).toContain('a message to pin');
    expect(sent.match(/Opus/g)?.length).toBe(2); // the system prompt and the question, not the thread's name
    gateway.kill('SIGTERM');
    await exited(gateway);
  });

  it('loses nothing said while it is down, answers it once, and never runs twice for a shard', async () => {
    const first = await h.spawnGateway();
    const channelId = h.discord.addChannel({ name: 'outage' });
    const warm = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, number 10' });
    await warm;
    const before = h.discord.gatewayStats();

    // A second gateway for the same shard, as a rolling deploy starts one: it waits.
    const second = h.spawnGateway();
    await new Promise((r) => setTimeout(r, 500));
    const duplicate = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, number 11' });
    await duplicate;
    await h.settled();
    expect(h.discord.gatewayStats().identifies).toBe(before.identifies);

    // The first dies without a word; for 10 s (longer than its lease) people go on talking.
    first.kill('SIGKILL');
    await exited(first);
    const during: string[] = [];
    for (let i = 12; i < 17; i++) {
      during.push((await h.discord.userSays({ channelId, content: `Opus, number ${i}` })).id);
      await new Promise((r) => setTimeout(r, 2000));
    }
    const successor = await second;
    await h.settled();
    await new Promise((r) => setTimeout(r, 300));
    await h.settled();
    // Resumed, not identified afresh: Discord replayed what it had missed.
    const stats = h.discord.gatewayStats();
    expect(stats.identifies).toBe(before.identifies);
    expect(stats.resumes).toBeGreaterThan(before.resumes);
    const answers = opusPosts(h, channelId).map((m) => m.content);
    expect(answers.sort()).toEqual(Array.from({ length: 7 }, (_, i) => `Answer to: number ${10 + i}`).sort());
    successor.kill('SIGTERM');
    expect(await exited(successor)).toBe(0);
    console.log(`gateway outage: ${during.length} messages sent while down, ${answers.length - 2} of them answered, each once; invalid Discord requests ${h.discord.invalidRequests()}`);
  }, 60_000);
});

describe('a token reset while chorus runs', () => {
  it('stops the gateway with the 4004 explanation when it must log in again', async () => {
    const h = await startHarness({ inProcessGateway: false, inProcessWorkers: 0 });
    try {
      const gateway = await h.spawnGateway();
      let stderr = '';
      gateway.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      h.discord.resetToken();
      h.discord.dropConnections(); // the connection drops; resuming and then identifying are refused
      expect(await exited(gateway)).toBe(1);
      expect(stderr).toMatch(/close code 4004.*DISCORD_TOKEN.*Reset Token/);
    } finally {
      await h.close();
    }
  });
});

describe('a bot token of a shape chorus has never seen', () => {
  it('works: the application id comes from Discord (READY, or /applications/@me), never from the token', async () => {
    const h = await startHarness({ discord: { token: 'an-opaque-token-with-no-layout-at-all' } });
    try {
      h.anthropicHost.setResponder(() => ({ text: 'Hello.' }));
      const post = h.discord.nextMessage((m) => m.author.username === 'Opus');
      await h.discord.userSays({ content: 'Opus, hi' });
      expect((await post).content).toBe('Hello.');
      expect(h.discord.restCalls.filter((c) => c.status >= 400)).toEqual([]);
    } finally {
      await h.close();
    }
  });
});

describe('a gateway that cannot log in', () => {
  async function failedStart(h: Harness, env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, ['bot/main.ts'], { env: { PATH: process.env.PATH ?? '', ...h.env, LOG_LEVEL: 'silent', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr = stderrOf(child);
    const code = await exited(child);
    return { code, stderr: stderr() };
  }

  it('says the token is wrong, in one line, and stops', async () => {
    const h = await startHarness({ inProcessGateway: false, inProcessWorkers: 0 });
    try {
      const { code, stderr } = await failedStart(h, { DISCORD_TOKEN: 'MTIz.not-the.right-token' });
      expect(code).toBe(1);
      expect(stderr).toMatch(/DISCORD_TOKEN/);
      expect(stderr).toMatch(/Reset Token/);
      expect(stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      await h.close();
    }
  });

  it('says Discord cannot be reached, in one line, and stops', async () => {
    const h = await startHarness({ inProcessGateway: false, inProcessWorkers: 0 });
    try {
      const { code, stderr } = await failedStart(h, { DISCORD_API_URL: 'http://127.0.0.1:9/api' });
      expect(code).toBe(1);
      expect(stderr).toMatch(/cannot reach Discord at 127\.0\.0\.1:9/);
      expect(stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      await h.close();
    }
  });

  it('says so when Discord never completes the log-in, and keeps trying', async () => {
    const h = await startHarness({ inProcessGateway: false, inProcessWorkers: 0 });
    h.discord.withholdReady(true);
    const child = spawn(process.execPath, ['bot/main.ts'], { env: { PATH: process.env.PATH ?? '', ...h.env, LOG_LEVEL: 'info', GATEWAY_READY_TIMEOUT_MS: '500' }, stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const said = await new Promise<{ level: number; msg: string }>((resolve) => {
        createInterface({ input: child.stdout! }).on('line', (l) => {
          const line = JSON.parse(l) as { level: number; msg: string };
          if (/did not complete log-in/.test(line.msg)) resolve(line);
        });
      });
      expect(said.msg).toMatch(/within 1 s \(no READY or RESUMED\)/);
      expect(said.level).toBe(50);
      expect(child.exitCode).toBeNull(); // not fatal: Discord may yet answer
    } finally {
      child.kill('SIGKILL');
      await exited(child);
      await h.close();
    }
  });

  it('names the Message Content intent and where to turn it on (close code 4014), and stops', async () => {
    const h = await startHarness({ inProcessGateway: false, inProcessWorkers: 0, discord: { messageContentIntent: false } });
    try {
      const { code, stderr } = await failedStart(h);
      expect(code).toBe(1);
      expect(stderr).toMatch(/4014/);
      expect(stderr).toMatch(/Privileged Gateway Intents/);
      expect(stderr).toMatch(/Message Content Intent/);
      expect(stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      await h.close();
    }
  });
});
