// Persona posts in a recorded channel join its transcript, with the model call behind them (saved
// with the text, so a retry that posts after a crash records the same call).
import type { ChannelMessage } from '../core/messages.ts';
import type { Place, Turn } from '../core/replies.ts';
import type { Stores } from '../core/stores.ts';
import { eventId, TRANSCRIPT_FORMAT_VERSION } from '../core/transcript/events.ts';
import type { SavedReply } from './reply.ts';

export async function recordPersonaPosts(stores: Pick<Stores, 'live' | 'records'>, place: Place, turn: Turn, posts: ChannelMessage[], saved: SavedReply): Promise<void> {
  const session = await stores.live.of(place.channelId);
  if (session?.kind !== 'channel') return;
  const store = await stores.records;
  const persona = { personaId: turn.personaId, name: posts[0]?.authorName ?? turn.personaId };
  for (const [i, post] of posts.entries()) {
    const base = { v: TRANSCRIPT_FORMAT_VERSION, id: eventId(session.sessionId, 'message', post.id), sessionId: session.sessionId, at: post.createdAt };
    if (saved.kind === 'notice' && !saved.modelTurn) {
      await store.append({ ...base, type: 'notice', text: post.content, persona, discordMessageId: post.id });
      continue;
    }
    await store.append({
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
}
