// The order an export shows a recorded channel in: the channel's own. Records are numbered (`seq`)
// in the order chorus learned of them, and a persona's streamed answer is recorded once whole —
// after the messages people wrote while it streamed, though Discord shows it where it began. So a
// reader of the records saw people reply to an answer before the answer. Each record of a channel
// carries Discord's time (`at`: a message's creation, an edit's time), which is the channel's order;
// exports follow it, keeping `seq`. An interview's records stay in their own order: its steps are
// the order. Pure.
import type { TranscriptEvent } from './events.ts';

/** How much later than the deletion itself chorus may hear of one (Discord's delivery, the gateway's queue). */
const DELIVERY_LAG_MS = 2_000;

export function asTheChannelShows<E extends TranscriptEvent>(events: readonly E[]): E[] {
  const started = events.find((e) => e.type === 'session_started');
  if (started?.type !== 'session_started' || started.kind !== 'channel') return [...events];
  // (An unreadable time keeps its place after the record before it.)
  let last = Number.NEGATIVE_INFINITY;
  const timed = events.map((event) => {
    const at = Date.parse(event.at);
    if (!Number.isNaN(at)) last = at;
    return Number.isNaN(at) ? last : at;
  });
  // An edit or a deletion comes after its message: a deletion's time is chorus's clock, not
  // Discord's, and may read a moment earlier than the message it deletes.
  const messageAt = new Map<string, number>();
  events.forEach((e, i) => e.type === 'channel_message' && messageAt.set(e.discordMessageId, timed[i]!));
  // And a deletion comes before a message people wrote that chorus heard of after it: the gateway
  // hears a channel in Discord's order, and the deletion's time (when chorus heard of it) lags the
  // deletion itself. Within DELIVERY_LAG_MS only: a message read late, after a gap, keeps its own time.
  const nextHumanAt = new Array<number>(events.length).fill(Number.POSITIVE_INFINITY);
  for (let i = events.length - 2; i >= 0; i--) {
    const next = events[i + 1]!;
    nextHumanAt[i] = next.type === 'channel_message' && next.author.kind === 'human' ? timed[i + 1]! : nextHumanAt[i + 1]!;
  }
  const keyed = events.map((event, index) => {
    const of = event.type === 'message_edited' || event.type === 'message_deleted' ? messageAt.get(event.discordMessageId) : undefined;
    let at = timed[index]!;
    if (event.type === 'message_deleted' && at - nextHumanAt[index]! <= DELIVERY_LAG_MS) at = Math.min(at, nextHumanAt[index]!);
    return { event, index, at: Math.max(at, of ?? Number.NEGATIVE_INFINITY) };
  });
  // The session's start first and its end last, whatever the clocks said.
  const rank = (e: E) => (e.type === 'session_started' ? 0 : e.type === 'session_ended' ? 2 : 1);
  keyed.sort((a, b) => rank(a.event) - rank(b.event) || a.at - b.at || a.index - b.index);
  return keyed.map((k) => k.event);
}
