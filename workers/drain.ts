// A channel's drain: answers its turns one after another, then lets the channel go. Each answer
// may address other personas; those turns join the end of the same channel's list.
import type { Persona } from '../personas/schema.ts';
import type { Ledger } from '../core/ledger.ts';
import type { Logger } from '../core/log.ts';
import { route } from '../core/route.ts';
import type { SettingsStore } from '../core/settings.ts';
import type { DrainJob, Turn, TurnStore } from '../core/turns.ts';
import { describeError } from '../core/log.ts';
import { answerTurn, type ReplyDeps, type ReplyOutcome } from './reply.ts';

export interface DrainDeps extends ReplyDeps {
  turns: TurnStore;
  settings: SettingsStore;
  personaList: readonly Persona[];
  maxPerMessage: number;
  random: () => number;
  /** Observes each finished turn (figures, tests). */
  onTurn?: (turn: Turn, outcome: ReplyOutcome) => void;
}

/** Thrown to have the queue retry the drain later; carries the turn's attempt for the backoff. */
export class TurnRetry extends Error {
  override name = 'TurnRetry';
  readonly attempt: number;
  constructor(message: string, attempt: number) {
    super(message);
    this.attempt = attempt;
  }
}

export async function drainChannel(drain: DrainJob, deps: DrainDeps, shouldStop: () => boolean): Promise<number> {
  const { channelId } = drain;
  let answered = 0;
  for (;;) {
    if (shouldStop()) return answered; // closing: the job is handed back and resumes elsewhere
    // Every turn of a channel shares its guild and parent: its settings are read with the head.
    const [head, settings] = await Promise.all([deps.turns.head(channelId), deps.settings.resolve(drain)]);
    if (!head) {
      if (await deps.turns.finish(channelId)) return answered;
      continue; // a turn arrived between the two reads
    }
    const { turn, raw } = head;
    if (turn.v !== 2) {
      deps.log.error({ channelId, v: turn.v }, 'turn of an unknown version dropped');
      await deps.turns.pop(channelId, raw);
      continue;
    }
    let outcome: ReplyOutcome;
    try {
      outcome = await answerTurn(turn, settings.values.historyMessages, deps);
    } catch (err) {
      const progress = await deps.ledger.progress(turn.trigger.id, turn.personaId);
      if (progress.attempts < deps.maxAttempts) {
        const why = describeError(err);
        deps.log.warn({ channelId, triggerId: turn.trigger.id, personaId: turn.personaId, attempt: progress.attempts, err: why }, 'turn failed; will retry');
        throw new TurnRetry(why.message, progress.attempts);
      }
      // Out of attempts with an error that is not the host's (those end in a notice): move on
      // rather than block the channel behind one broken turn.
      deps.log.error({ channelId, triggerId: turn.trigger.id, personaId: turn.personaId, err: describeError(err) }, 'turn abandoned after its last attempt');
      await deps.turns.pop(channelId, raw);
      continue;
    }
    await followUps(turn, outcome, settings.values, deps);
    await deps.turns.pop(channelId, raw);
    answered += 1;
    deps.onTurn?.(turn, outcome);
  }
}

/** A persona's answer may address others: route it like any message, as a persona post. */
async function followUps(turn: Turn, outcome: ReplyOutcome, settings: { roster: string[]; interjectionProbability: number; chainDepth: number; cooldownSeconds: number; repliesPerMinute: number }, deps: DrainDeps): Promise<void> {
  const last = outcome.posts.at(-1);
  if (!last || outcome.status !== 'posted') return;
  const now = Date.now();
  const activity = await deps.ledger.activity(turn.channelId, now);
  const content = outcome.posts.map((p) => p.content).join('\n');
  const { answer, skipped } = route(
    { content, author: { kind: 'persona', personaId: turn.personaId, depth: turn.depth } },
    deps.personaList,
    { ...settings, ...activity },
    { maxPerMessage: deps.maxPerMessage, now, random: deps.random },
  );
  if (skipped.length) deps.log.info({ channelId: turn.channelId, from: turn.personaId, skipped }, 'persona post not answered by some');
  if (answer.length === 0) return;
  const trigger = last;
  await deps.ledger.noteAmbient(turn.channelId, answer.length, now);
  await deps.turns.append(
    answer.map((d) => ({
      v: 2,
      ...(turn.guildId ? { guildId: turn.guildId } : {}),
      channelId: turn.channelId,
      ...(turn.parentId ? { parentId: turn.parentId } : {}),
      personaId: d.personaId,
      reason: d.trigger,
      depth: d.depth,
      trigger,
      receivedAt: now,
    })),
  );
}
