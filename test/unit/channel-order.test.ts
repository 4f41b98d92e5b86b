import { describe, expect, it } from 'vitest';
import { createChannelOrder } from '../../bot/channel-order.ts';

describe('events in channel order', () => {
  it('runs a channel\'s tasks one after another, other channels beside them', async () => {
    const inOrder = createChannelOrder();
    const done: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = inOrder('a', async () => {
      await held;
      done.push('a1');
    });
    const second = inOrder('a', async () => void done.push('a2'));
    await inOrder('b', async () => void done.push('b1'));
    expect(done).toEqual(['b1']);
    release();
    await Promise.all([first, second]);
    expect(done).toEqual(['b1', 'a1', 'a2']);
  });

  it('runs a channel\'s later tasks after one failed, and leaves the failure to its caller', async () => {
    const inOrder = createChannelOrder();
    const unhandled: unknown[] = [];
    const note = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', note);
    try {
      const failed = inOrder('a', async () => {
        throw new Error('routing failed');
      });
      const later = inOrder('a', async () => undefined);
      await expect(failed).rejects.toThrow('routing failed');
      await expect(later).resolves.toBeUndefined();
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', note);
    }
  });
});
