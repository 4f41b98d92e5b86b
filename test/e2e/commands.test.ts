// Slash commands through the stand-in's interaction flow, and their registration script.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  // The key for the openai-hosted personas is unset: they must show as unavailable, not crash.
  h = await startHarness({ inProcessWorkers: 0, env: { TEST_OPENAI_KEY: '' } });
});
afterAll(async () => {
  await h?.close();
});

describe('slash commands', () => {
  it('registers the commands in the configured guild with `npm run commands:register`', async () => {
    const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'commands:register'], {
      env: { PATH: process.env.PATH ?? '', ...h.env, DISCORD_GUILD_ID: h.discord.guildId },
    });
    expect(stdout).toMatch(/registered 1 command\(s\) in guild/);
    const put = h.discord.restCalls.find((c) => c.method === 'PUT' && c.path.endsWith(`/guilds/${h.discord.guildId}/commands`));
    expect(put?.body).toEqual([expect.objectContaining({ name: 'personas', description: expect.any(String) })]);
  });

  it('/personas lists each persona with its host, lifecycle dates, and the unavailable ones', async () => {
    const reply = h.discord.nextMessage((m) => m.content.startsWith('Personas answer'));
    await h.discord.userRunsCommand({ name: 'personas' });
    const text = (await reply).content;
    expect(text).toMatch(/\*\*Opus\*\*.*via 127\.0\.0\.1:\d+ \(1\/1 hosts\)/);
    expect(text).toMatch(/\*\*GPT\*\*.*\*\*unavailable\*\* \(unset: TEST_OPENAI_KEY\)/);
    expect(text).toMatch(/\*\*Legacy\*\*.*\(1\/2 hosts\)\n-# released 2024-03-04 · retired by its maker 2026-01-05/);
  });
});
