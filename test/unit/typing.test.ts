// The typing indicator's schedule (workers/typing.ts) on a fake clock: nothing for a quick reply,
// then shown and renewed for as long as the reply has nothing to show, as the edge says when.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../core/log.ts';
import { MissingPermissionError } from '../../core/rest.ts';
import { keepTyping, TYPING_DELAY_MS } from '../../workers/typing.ts';

const log = createLogger('test', 'silent');

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function edge(renewIn: () => number | Error) {
  const calls: number[] = [];
  return {
    calls,
    discord: {
      async typing() {
        calls.push(Date.now());
        const r = renewIn();
        if (r instanceof Error) throw r;
        return r;
      },
    },
  };
}

describe('keepTyping', () => {
  it('sends nothing for a reply that shows within the delay', async () => {
    const e = edge(() => 8_000);
    const typing = keepTyping('c1', { discord: e.discord, refused: async () => undefined, log });
    await vi.advanceTimersByTimeAsync(TYPING_DELAY_MS - 1);
    typing.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(e.calls).toEqual([]);
  });

  it('shows typing after the delay and renews it when the edge says, until stopped', async () => {
    const start = Date.now();
    const e = edge(() => 8_000);
    const typing = keepTyping('c1', { discord: e.discord, refused: async () => undefined, log });
    await vi.advanceTimersByTimeAsync(TYPING_DELAY_MS + 8_000 * 2);
    expect(e.calls.map((t) => t - start)).toEqual([TYPING_DELAY_MS, TYPING_DELAY_MS + 8_000, TYPING_DELAY_MS + 16_000]);
    typing.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(e.calls).toHaveLength(3);
  });

  it('asks again when the indicator another reply sent runs out', async () => {
    const start = Date.now();
    const answers = [2_500, 8_000];
    const e = edge(() => answers.shift() ?? 8_000);
    const typing = keepTyping('c1', { discord: e.discord, refused: async () => undefined, log });
    await vi.advanceTimersByTimeAsync(TYPING_DELAY_MS + 2_500 + 1);
    typing.stop();
    expect(e.calls.map((t) => t - start)).toEqual([TYPING_DELAY_MS, TYPING_DELAY_MS + 2_500]);
  });

  it('gives up on a failure, telling a refusal to send messages', async () => {
    const refused = vi.fn(async () => undefined);
    const denied = edge(() => new MissingPermissionError('SendMessages', 'c1'));
    keepTyping('c1', { discord: denied.discord, refused, log });
    const failing = edge(() => new Error('HTTP 503'));
    keepTyping('c2', { discord: failing.discord, refused, log });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(denied.calls).toHaveLength(1);
    expect(failing.calls).toHaveLength(1);
    expect(refused).toHaveBeenCalledTimes(1);
  });
});
