// The streamer's decisions (workers/stream.ts), with the edge replaced by functions that record what
// they were asked and the clock by vitest's: when a preview is posted, when an edit goes, and what
// happens to an edit left out for lack of room under Discord's limits.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PostedMessage } from '../../core/discord.ts';
import { createLogger } from '../../core/log.ts';
import { createStreamer, type StreamOptions } from '../../workers/stream.ts';

const log = createLogger('test', 'silent');
const posted: PostedMessage = { id: 'm1', webhookId: 'w1' };

function streamer(o: Partial<StreamOptions> & { room?: boolean[] } = {}) {
  const shown: string[] = [];
  const room = [...(o.room ?? [])];
  const s = createStreamer({
    intervalMs: 1000,
    preview: async (content) => {
      shown.push(`post: ${content}`);
      return posted;
    },
    edit: async (_posted, content) => {
      const sent = room.shift() ?? true;
      shown.push(`${sent ? 'edit' : 'left out'}: ${content}`);
      return sent;
    },
    editDelay: () => 0,
    log,
    ...o,
  });
  return { s, shown };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('streaming an answer', () => {
  it('posts the first words at once, then edits no faster than the interval', async () => {
    const { s, shown } = streamer();
    s.onText('Hello');
    await vi.advanceTimersByTimeAsync(0);
    s.onText(' there');
    await vi.advanceTimersByTimeAsync(999);
    expect(shown).toEqual(['post: Hello']);
    await vi.advanceTimersByTimeAsync(1);
    expect(shown).toEqual(['post: Hello', 'edit: Hello there']);
    expect(await s.settle()).toEqual(posted);
    expect(s.shown()).toBe('Hello there');
  });

  it('never shows half a character: a surrogate pair split across deltas waits for its second half', async () => {
    const { s, shown } = streamer();
    s.onText('smile \uD83D');
    await vi.advanceTimersByTimeAsync(0);
    s.onText('\uDE00 ok');
    await vi.advanceTimersByTimeAsync(1000);
    expect(shown).toEqual(['post: smile ', 'edit: smile \uD83D\uDE00 ok']);
  });

  it('shows the next attempt\'s text in place of a failed one\'s, never after it', async () => {
    const { s, shown } = streamer();
    s.onText('Partial answer from A,');
    await vi.advanceTimersByTimeAsync(0);
    s.discard();
    s.onText('Whole answer from B.');
    await vi.advanceTimersByTimeAsync(1000);
    expect(shown).toEqual(['post: Partial answer from A,', 'edit: Whole answer from B.']);
  });

  it('marks a preview whose text was discarded while the next attempt has nothing yet, and shows its text in place of both', async () => {
    const { s, shown } = streamer();
    s.onText('Partial answer from A,');
    await vi.advanceTimersByTimeAsync(0);
    s.discard('-# (asking again)');
    await vi.advanceTimersByTimeAsync(1000);
    expect(shown).toEqual(['post: Partial answer from A,', 'edit: Partial answer from A,\n-# (asking again)']);
    // The words under the mark, for a mark of another kind (never two marks).
    expect([s.shown(), s.shownWords()]).toEqual(['Partial answer from A,\n-# (asking again)', 'Partial answer from A,']);
    s.onText('Whole answer from B.');
    await vi.advanceTimersByTimeAsync(1000);
    expect(shown.at(-1)).toBe('edit: Whole answer from B.');
    // The next text before the mark was due: no mark at all.
    const quick = streamer();
    quick.s.onText('Partial');
    await vi.advanceTimersByTimeAsync(0);
    quick.s.discard('-# (asking again)');
    quick.s.onText('Whole.');
    await vi.advanceTimersByTimeAsync(1000);
    expect(quick.shown).toEqual(['post: Partial', 'edit: Whole.']);
    // Long after the last edit, the mark still waits an interval for the next words: none is spent.
    const idle = streamer();
    idle.s.onText('Partial');
    await vi.advanceTimersByTimeAsync(5000);
    idle.s.discard('-# (asking again)');
    await vi.advanceTimersByTimeAsync(500);
    idle.s.onText('Whole.');
    await vi.advanceTimersByTimeAsync(1000);
    expect(idle.shown).toEqual(['post: Partial', 'edit: Whole.']);
    // Nothing shown yet: nothing to mark.
    const early = streamer();
    early.s.discard('-# (asking again)');
    await vi.advanceTimersByTimeAsync(1000);
    expect(early.shown).toEqual([]);
  });

  it('tries an edit left out for lack of room again after the interval, with what came meanwhile, and streams on', async () => {
    const { s, shown } = streamer({ room: [false] });
    s.onText('One');
    await vi.advanceTimersByTimeAsync(0);
    s.onText(' two');
    await vi.advanceTimersByTimeAsync(1000);
    expect(shown).toEqual(['post: One', 'left out: One two']);
    expect(s.shown()).toBe('One'); // what Discord shows: the caller's final edit must still say the rest
    s.onText(' three');
    await vi.advanceTimersByTimeAsync(1000);
    expect(shown).toEqual(['post: One', 'left out: One two', 'edit: One two three']);
    expect(s.shown()).toBe('One two three');
    await s.settle();
  });

  it('retries a left-out edit even when no more text comes, until settled', async () => {
    const { s, shown } = streamer({ room: [false, false] });
    s.onText('Only');
    await vi.advanceTimersByTimeAsync(0);
    s.onText(' this');
    await vi.advanceTimersByTimeAsync(3000);
    expect(shown).toEqual(['post: Only', 'left out: Only this', 'left out: Only this', 'edit: Only this']);
    await s.settle();
    await vi.advanceTimersByTimeAsync(5000);
    expect(shown).toHaveLength(4); // nothing after settle
  });

  it('posts nothing when there is no room to stream: the answer will be posted whole', async () => {
    const { s, shown } = streamer({ roomToStream: async () => false });
    s.onText('Hello');
    await vi.advanceTimersByTimeAsync(2000);
    expect(shown).toEqual([]);
    expect(await s.settle()).toBeUndefined();
  });
});
