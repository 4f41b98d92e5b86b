// Persona posts in a recorded channel join its transcript, with the model call behind them (saved
// with the text, so a retry that posts after a crash records the same call). They go through the
// outbox, as the gateway's records do: a record store away does not hold up or fail the reply.
import { snowflakeTime, type ChannelMessage } from '../core/messages.ts';
import type { Place, Turn } from '../core/replies.ts';
import type { Stores } from '../core/stores.ts';
import { eventId, TRANSCRIPT_FORMAT_VERSION, type TranscriptEvent } from '../core/transcript/events.ts';
import type { SavedReply } from './reply.ts';

export async function recordPersonaPosts(stores: Pick<Stores, 'live' | 'outbox'>, place: Place, turn: Turn, posts: ChannelMessage[], saved: SavedReply): Promise<void> {
  // The recording the answer was made in, or none (saved with its text); for a reply saved without
  // it, the channel's now.
  const sessionId = saved.recordIn === undefined ? await stores.live.recording(place.channelId) : saved.recordIn;
  if (!sessionId) return;
  const events: TranscriptEvent[] = [];
  const persona = { personaId: turn.personaId, name: posts[0]?.authorName ?? turn.personaId };
  for (const [i, post] of posts.entries()) {
    // (When Discord shows it, from its id: a retry that records it later knows no better time.)
    const base = { v: TRANSCRIPT_FORMAT_VERSION, id: eventId(sessionId, 'message', post.id), sessionId, at: new Date(snowflakeTime(post.id)).toISOString() };
    if (saved.kind === 'notice' && !saved.modelTurn) {
      events.push({ ...base, type: 'notice', text: post.content, persona, discordMessageId: post.id });
      continue;
    }
    events.push({
      ...base,
      type: 'channel_message',
      author: { kind: 'persona', ...persona },
      // A notice standing for an empty answer is recorded as the answer the model gave: no text (what
      // one its host stopped had written is in modelTurn.stoppedText).
      text: saved.kind === 'notice' ? '' : post.content,
      discordMessageId: post.id,
      ...(i === 0 && saved.modelTurn ? { modelTurn: saved.modelTurn } : {}),
      ...(i === 0 ? { trigger: { discordMessageId: turn.trigger.id, reason: turn.reason, depth: turn.depth } } : {}),
    });
  }
  await stores.outbox.put(...events);
}
