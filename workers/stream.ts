// Shows an answer while it is generated: the first words are posted at once, then the message is
// edited as more arrive — no faster than the interval, and only while the webhook's rate budget has
// room, so the final text (posted by the caller) always has requests left to land. Edits cost REST
// calls, which bound how many replies a bot can give: a reply shorter than the interval costs its
// preview and the final edit only. When the channel's webhooks are crowded, or Discord's limit for
// webhooks has no room to spare, an answer is not streamed at all: posted whole, it costs one
// request instead of two or more; and an edit on the way is left out (tried again after the
// interval) rather than wait for room a post needs.
import type { PostedMessage } from '../core/discord.ts';
import type { Logger } from '../core/log.ts';
import { splitMessage } from '../core/split.ts';

export interface Streamer {
  onText(delta: string): void;
  /**
   * What streamed so far was not the answer (its request failed): the next text shows from scratch.
   * Until it comes, a preview showing the dead text shows `mark` under it, if given.
   */
  discard(mark?: string): void;
  /** Stops updating and waits for the post or edit in flight; resolves with the message shown. */
  settle(): Promise<PostedMessage | undefined>;
  /** When the first text became visible (ms), for figures. */
  firstVisibleAt(): number | undefined;
  /** The text the preview shows now (after settle: for good). */
  shown(): string;
  /** Of it, the answer's words: without a mark chorus put under them. */
  shownWords(): string;
}

export interface StreamOptions {
  intervalMs: number;
  /** A preview already shown by an earlier attempt: edited, never posted again. */
  existing?: PostedMessage;
  /** Posts the preview exactly once (through the ledger). */
  preview(content: string): Promise<PostedMessage>;
  /** Edits the preview on the way; false when the edit was left out (no room to spare under Discord's limits). */
  edit(posted: PostedMessage, content: string): Promise<boolean>;
  /** How long to hold an edit back so the webhook's budget keeps room (0: now). */
  editDelay(webhookId: string): number;
  /** Asked once, before the preview: false when the channel's webhooks have no room for one and its edits. */
  roomToStream?: () => Promise<boolean>;
  /** Called when the answer first shows. */
  onVisible?: () => void;
  log: Logger;
}

export function createStreamer(opts: StreamOptions): Streamer {
  let text = '';
  /** Put under the words shown while there is no text (they were discarded), from `markDueAt` on. */
  let mark: string | undefined;
  let markDueAt = 0;
  let posted = opts.existing;
  let shown = '';
  let shownWords = '';
  let lastUpdateAt = 0;
  let inFlight: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let firstVisibleAt: number | undefined;

  const later = (ms: number) => {
    timer = setTimeout(() => {
      timer = undefined;
      pump();
    }, ms);
  };

  /** The first words, unless the channel's webhooks are too crowded for a preview and its edits: then nothing until the whole answer. */
  async function previewIfRoom(content: string): Promise<boolean> {
    if (opts.roomToStream && !(await opts.roomToStream())) {
      stopped = true;
      opts.log.debug('the channel\'s webhooks are crowded: the answer will be posted whole, not streamed');
      return false;
    }
    posted = await opts.preview(content);
    return true;
  }

  /** One post or edit at a time; whatever arrived meanwhile goes out in the next one. */
  function pump(): void {
    if (stopped || inFlight || timer) return;
    // (A character whose second half has not come yet waits for it: half an emoji is not text.)
    const words = (splitMessage(text)[0] ?? '').replace(/[\uD800-\uDBFF]$/, '');
    // Discarded words still showing are marked, unless the next words come first; a mark alone
    // would pass for a message, so only a shown preview is marked, within its one piece.
    const marked = !words.trim() && mark !== undefined && posted && shownWords ? `${shownWords}\n${mark}` : undefined;
    const next = marked !== undefined && splitMessage(marked).length === 1 ? marked : words;
    if (!next.trim() || next === shown) return;
    const wait = posted ? Math.max(lastUpdateAt + opts.intervalMs - Date.now(), opts.editDelay(posted.webhookId), next === marked ? markDueAt - Date.now() : 0) : 0;
    if (wait > 0) return later(wait);
    lastUpdateAt = Date.now();
    // (An edit left out for lack of room shows nothing new: the pump below tries again after the interval.)
    inFlight = (posted ? opts.edit(posted, next) : previewIfRoom(next)).then((showing) => {
      if (!showing) return;
      shown = next;
      if (next !== marked) shownWords = next;
      if (firstVisibleAt === undefined) {
        firstVisibleAt = Date.now();
        opts.onVisible?.();
      }
    });
    inFlight
      .catch((err: unknown) => {
        // No more updates: a preview whose fate is unknown must not be followed by another (the
        // caller looks for it first), and a refused one would be refused again.
        stopped = true;
        opts.log.warn({ err: (err as Error).message }, 'streaming stopped; the final text will still be posted');
      })
      .finally(() => {
        inFlight = undefined;
        pump();
      });
  }

  return {
    onText(delta) {
      text += delta;
      if (delta) mark = undefined;
      pump();
    },
    discard(m) {
      text = '';
      // Not at once: the next attempt's first words, if they come within the interval, replace the
      // dead ones with no edit spent on a mark.
      mark = m;
      markDueAt = Date.now() + opts.intervalMs;
      pump();
    },
    async settle() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      while (inFlight) await inFlight.catch(() => undefined);
      return posted;
    },
    firstVisibleAt: () => firstVisibleAt,
    shown: () => shown,
    shownWords: () => shownWords,
  };
}
