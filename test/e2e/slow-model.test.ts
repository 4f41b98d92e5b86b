// A model that thinks for a long time: replies in flight are messages a second × the model's
// seconds (a 30 s model at 10 messages a second: 300). One worker, as configured by default, must
// carry them all at once, or every later message waits behind a worker slot as well as the model.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { startHarness, type Harness } from './harness.ts';

const IN_FLIGHT = 300;
const CHANNELS = 30;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { PERSONA_COOLDOWN_SECONDS: '0' } });
});
afterAll(async () => {
  await h?.close();
});

describe('a slow model', () => {
  it(`has all ${IN_FLIGHT} replies asked of it at once by one worker with the default settings, and each answered once`, async () => {
    expect(h.workers).toHaveLength(1);
    expect(h.config.WORKER_CONCURRENCY).toBe(loadConfig({ DISCORD_TOKEN: 'x' }).WORKER_CONCURRENCY); // the harness keeps the default
    let answer!: () => void;
    const thinking = new Promise<void>((resolve) => (answer = resolve));
    let asked = 0;
    let allAsked!: () => void;
    const everyoneAsked = new Promise<void>((resolve) => (allAsked = resolve));
    h.anthropicHost.setResponder(() => {
      if (++asked === IN_FLIGHT) allAsked();
      return { text: 'Thought it through.', hold: thinking };
    });
    const channels = Array.from({ length: CHANNELS }, (_, i) => h.discord.addChannel({ name: `slow-${i}` }));
    for (let i = 0; i < IN_FLIGHT; i++) await h.discord.userSays({ channelId: channels[i % CHANNELS]!, content: `Opus, question ${i}?` });
    // Every reply reaches the model while none has been answered: none waits for a worker slot.
    await everyoneAsked;
    const posts = () => channels.flatMap((c) => h.discord.messages(c)).filter((m) => m.webhook_id !== undefined);
    expect(posts()).toHaveLength(0);
    answer();
    await h.settled();
    expect(posts()).toHaveLength(IN_FLIGHT);
    const answered = h.outcomes.filter((o) => o.outcome.status === 'posted').map((o) => o.turn.trigger.id);
    expect(new Set(answered).size).toBe(IN_FLIGHT); // one answer to each message
  });
});
