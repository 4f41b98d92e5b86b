// Shows an answer while it is generated: the first tokens are posted at once, then the message is
// edited as more arrive — no faster than the interval, and only while the webhook's rate budget
// has room, so the final text (posted by the caller) always has requests left to land.
import type { DiscordEdge, PostedMessage, Speaker } from '../core/discord.ts';
import type { Logger } from '../core/log.ts';
import { splitMessage } from '../core/split.ts';

export interface Streamer {
  onText(delta: string): void;
  /** Stops updating and waits for the post or edit in flight; resolves with the message shown. */
  settle(): Promise<PostedMessage | undefined>;
  /** When the first text became visible (ms), for figures. */
  firstVisibleAt(): number | undefined;
  /** The text the message shows now. */
  shown(): string;
}

export interface StreamOptions {
  discord: DiscordEdge;
  channelId: string;
  speaker: Speaker;
  intervalMs: number;
  /** A preview already shown by an earlier attempt: edited, never posted again. */
  existing?: PostedMessage;
  /** Called before and after the first post, so the ledger knows about it. */
  beforePost(): Promise<void>;
  afterPost(posted: PostedMessage): Promise<void>;
  log: Logger;
}

export function createStreamer(opts: StreamOptions): Streamer {
  let text = '';
  let posted = opts.existing;
  let shown = '';
  let lastEditAt = 0;
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

  /** One post or edit at a time; whatever arrived meanwhile goes out in the next one. */
  function pump(): void {
    if (stopped || inFlight || timer) return;
    const next = splitMessage(text)[0] ?? '';
    if (!next.trim() || next === shown) return;
    if (!posted) {
      inFlight = (async () => {
        await opts.beforePost();
        const message = await opts.discord.postAs(opts.channelId, opts.speaker, next);
        posted = message;
        shown = next;
        firstVisibleAt = Date.now();
        lastEditAt = firstVisibleAt;
        await opts.afterPost(message);
      })();
    } else {
      const wait = Math.max(lastEditAt + opts.intervalMs - Date.now(), opts.discord.editDelay(posted.webhookId));
      if (wait > 0) return later(wait);
      const target = posted;
      lastEditAt = Date.now();
      inFlight = opts.discord.editAs(opts.channelId, target, next).then(() => {
        shown = next;
      });
    }
    inFlight
      .catch((err: Error) => opts.log.warn({ err: err.message }, 'streaming update failed; the final text will still be posted'))
      .finally(() => {
        inFlight = undefined;
        pump();
      });
  }

  return {
    onText(delta) {
      text += delta;
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
  };
}
