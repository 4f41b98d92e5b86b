// The processes as a user starts them: `npm run start:*`.
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDiscordStandIn } from '../../local-discord/server.ts';

/** Runs an npm script to its end; one still running after 20 s is killed (a process that should have stopped is a failure, not a leak). */
function run(script: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    // A process group of its own, so npm and the node it starts are killed together.
    const child = spawn('npm', ['run', '--silent', script], { env: { PATH: process.env.PATH ?? '', ...env }, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 20_000);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, stderr: signal ? `${stderr}[still running after 20 s: killed]` : stderr });
    });
  });
}

describe('start-up', () => {
  it('stops with the file and the field named when a persona file is bad', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bad-personas-'));
    await writeFile(join(dir, 'broken.yaml'), 'id: broken\nname: Broken\nhosts:\n  - provider: antropic\n    model: x\n');
    for (const script of ['start:gateway', 'start:worker']) {
      const { code, stderr } = await run(script, { DISCORD_TOKEN: 'MTIz.x.y', PERSONAS_DIR: dir });
      expect(code).toBe(1);
      expect(stderr).toContain('broken.yaml');
      expect(stderr).toContain('hosts.0.provider');
    }
  });

  it('stops with a clear message when the token is missing', async () => {
    for (const env of [{ DISCORD_TOKEN: '' }, {}] as Record<string, string>[]) {
      const { code, stderr } = await run('start:worker', env);
      expect(code).toBe(1);
      expect(stderr).toMatch(/DISCORD_TOKEN: set DISCORD_TOKEN to the bot token/);
      expect(stderr).not.toMatch(/expected string/);
    }
  });

  it('stops with one clear line when Redis cannot be reached', async () => {
    for (const script of ['start:gateway', 'start:worker']) {
      const { code, stderr } = await run(script, { DISCORD_TOKEN: 'MTIz.x.y', REDIS_URL: 'redis://127.0.0.1:9' });
      expect(code).toBe(1);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:9 .* start one/);
    }
  });

  it('stops with one clear line for a setting it cannot read: a malformed REDIS_URL, a folder that is not there, shard ids, the REST proxy\'s port', async () => {
    const cases: [string, Record<string, string>, RegExp][] = [
      ['start:worker', { DISCORD_TOKEN: 'MTIz.x.y', REDIS_URL: 'redis://:6379:foo' }, /^chorus worker: REDIS_URL is not an address chorus can read .*redis:\/\/host:6379\.$/],
      ['start:worker', { DISCORD_TOKEN: 'MTIz.x.y', PERSONAS_DIR: '/nonexistent-personas' }, /^chorus worker: \/nonexistent-personas: no such folder \(set PERSONAS_DIR/],
      ['start:gateway', { DISCORD_TOKEN: 'MTIz.x.y', PROTOCOLS_DIR: '/nonexistent-protocols' }, /^chorus gateway: \/nonexistent-protocols: no such folder \(set PROTOCOLS_DIR/],
      ['start:gateway', { DISCORD_TOKEN: 'MTIz.x.y', SHARD_IDS: '3-1' }, /SHARD_IDS: a range of shard ids runs upwards/],
      ['start:gateway', { DISCORD_TOKEN: 'MTIz.x.y', SHARD_COUNT: 'two' }, /SHARD_COUNT: a whole number of shards \(1 or more\), or auto/],
      ['start:rest-proxy', { REST_PROXY_PORT: 'abc' }, /^chorus rest-proxy: invalid configuration:\n  REST_PROXY_PORT: /],
    ];
    for (const [script, env, said] of cases) {
      const { code, stderr } = await run(script, env);
      expect([script, code]).toEqual([script, 1]);
      expect(stderr.trim()).toMatch(said);
      expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  }, 90_000);

  it('takes a setting set to nothing for unset, as a .env copied from the template has them', async () => {
    const { code, stderr } = await run('start:worker', { DISCORD_TOKEN: 'MTIz.x.y', WORKER_CONCURRENCY: '', SHARD_COUNT: '', REDIS_URL: 'redis://127.0.0.1:9' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/cannot reach Redis/); // got past the configuration
    // The headless commands need no token, even one set to nothing.
    const report = await run('report', { DISCORD_TOKEN: '' });
    expect(report.stderr).not.toMatch(/DISCORD_TOKEN/);
    expect(report.stderr).toMatch(/usage|no sessions/);
  });

  it('stops a worker with one clear line when Discord refuses its token, whatever the token looks like', async () => {
    const discord = await startDiscordStandIn();
    try {
      const { code, stderr } = await run('start:worker', { DISCORD_TOKEN: 'abc', DISCORD_API_URL: discord.restUrl, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
      expect(code).toBe(1);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/Discord refused DISCORD_TOKEN \(HTTP 401\)/);
    } finally {
      await discord.close();
    }
  });
});
