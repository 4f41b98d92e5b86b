// The order an export shows a recorded channel in: the channel's own. Records are numbered (`seq`)
// in the order chorus learned of them, and a persona's streamed answer is recorded once whole —
// after the messages people wrote while it streamed, though Discord shows it where it began. So a
// reader of the records saw people reply to an answer before the answer. Each record of a channel
// carries Discord's time (`at`: a message's creation, an edit's time), which is the channel's order;
// exports follow it, keeping `seq`. An interview's records stay in their own order: its steps are
// the order. Pure.
import type { TranscriptEvent } from './events.ts';

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
  const keyed = events.map((event, index) => {
    const of = event.type === 'message_edited' || event.type === 'message_deleted' ? messageAt.get(event.discordMessageId) : undefined;
    return { event, index, at: Math.max(timed[index]!, of ?? Number.NEGATIVE_INFINITY) };
  });
  // The session's start first and its end last, whatever the clocks said.
  const rank = (e: E) => (e.type === 'session_started' ? 0 : e.type === 'session_ended' ? 2 : 1);
  keyed.sort((a, b) => rank(a.event) - rank(b.event) || a.at - b.at || a.index - b.index);
  return keyed.map((k) => k.event);
}
