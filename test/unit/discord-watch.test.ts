import { afterEach, describe, expect, it, vi } from 'vitest';
import { DiscordAPIError, HTTPError } from '../../core/discord-rest.ts';
import { DISCORD_AWAY_ERROR_MS, DISCORD_LOOK_MS, watchForDiscord } from '../../workers/discord-watch.ts';

const away = () => new HTTPError(503, 'Service Unavailable', 'GET', '/gateway/bot', { body: undefined, files: undefined });
const logs: string[] = [];
const log = { debug: () => {}, info: (_o: object, m: string) => logs.push(`info ${m}`), warn: (_o: object, m: string) => logs.push(`warn ${m}`), error: (_o: object, m: string) => logs.push(`error ${m}`) } as never;
const job = (id: string) => ({ id, queueName: 'replies', promote: vi.fn(async () => {}) });

afterEach(() => {
  vi.useRealTimers();
  logs.length = 0;
});

describe('jobs waiting for Discord', () => {
  it('are woken together once Discord answers a look, and the outage is told once, not per job', async () => {
    vi.useFakeTimers();
    let up = false;
    const look = vi.fn(async () => {
      if (!up) throw away();
    });
    const watch = watchForDiscord({ look, log });
    const [a, b] = [job('a'), job('b')];
    watch.waiting(a, away());
    watch.waiting(b, away());
    watch.waiting(a, away()); // waiting again after its own backoff ran out: still one job
    expect(logs).toEqual(['warn Discord cannot be reached: jobs wait for it, their tries untouched']);
    await vi.advanceTimersByTimeAsync(DISCORD_LOOK_MS);
    expect(look).toHaveBeenCalledTimes(1);
    expect(a.promote).not.toHaveBeenCalled();
    up = true;
    await vi.advanceTimersByTimeAsync(DISCORD_LOOK_MS);
    expect([a.promote.mock.calls.length, b.promote.mock.calls.length]).toEqual([1, 1]);
    expect(logs.at(-1)).toBe('info Discord answers again: the jobs waiting for it go on');
    // Nothing waits: no more looks.
    await vi.advanceTimersByTimeAsync(DISCORD_LOOK_MS * 3);
    expect(look).toHaveBeenCalledTimes(2);
    watch.close();
  });

  it('does not wake a job already running again (woken by its own backoff, perhaps waiting for something else now)', async () => {
    vi.useFakeTimers();
    const watch = watchForDiscord({ look: async () => undefined, log });
    const a = job('a');
    watch.waiting(a, away());
    watch.running(a);
    await vi.advanceTimersByTimeAsync(DISCORD_LOOK_MS);
    expect(a.promote).not.toHaveBeenCalled();
    watch.close();
  });

  it('takes any answer but an outage for Discord answering (a 429 is Discord, there)', async () => {
    vi.useFakeTimers();
    const limited = new DiscordAPIError({ message: 'You are being rate limited.', code: 0 }, 0, 429, 'GET', '/gateway/bot', { body: undefined, files: undefined });
    const watch = watchForDiscord({ look: async () => Promise.reject(limited), log });
    const a = job('a');
    watch.waiting(a, away());
    await vi.advanceTimersByTimeAsync(DISCORD_LOOK_MS);
    expect(a.promote).toHaveBeenCalledTimes(1);
    watch.close();
  });

  it('says it as an error once the outage has lasted minutes', async () => {
    vi.useFakeTimers();
    const watch = watchForDiscord({ look: async () => Promise.reject(away()), log });
    watch.waiting(job('a'), away());
    await vi.advanceTimersByTimeAsync(DISCORD_AWAY_ERROR_MS + DISCORD_LOOK_MS);
    expect(logs.filter((l) => l.startsWith('error'))).toHaveLength(1);
    watch.close();
  });
});
