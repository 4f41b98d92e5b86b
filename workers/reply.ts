// One turn: context → model (streamed) → post as the persona → remember. Safe to run again: a
// retry after a crash resumes where the last attempt stopped and never posts a piece twice.
import { hostLabel, type Host, type Persona } from '../personas/schema.ts';
import { buildContext } from '../core/context.ts';
import { MissingPermissionError, type DiscordEdge, type Speaker } from '../core/discord.ts';
import type { HistoryStore } from '../core/history.ts';
import type { HostClient } from '../core/hosts/clients.ts';
import { askPersona, RetryableHostError, unavailableNotice } from '../core/hosts/fallback.ts';
import type { Ledger, ReplyProgress } from '../core/ledger.ts';
import type { Logger } from '../core/log.ts';
import type { ChannelMessage } from '../core/messages.ts';
import { splitMessage } from '../core/split.ts';
import type { ModelTurn } from '../core/transcript/events.ts';
import { toModelTurn } from '../core/transcript/model-turn.ts';
import type { Turn } from '../core/turns.ts';
import { channelHistory } from './history.ts';
import { postPieces } from './post.ts';
import { createStreamer } from './stream.ts';

export interface ReplyDeps {
  personas: ReadonlyMap<string, Persona>;
  discord: DiscordEdge;
  ledger: Ledger;
  history: HistoryStore;
  clientFor: (host: Host) => HostClient | undefined;
  maxTokens: number;
  maxAttempts: number;
  streamIntervalMs: number;
  log: Logger;
  /** Called with a persona's posts once delivered (recorded channels keep them). */
  onPosted?: (turn: Turn, posts: ChannelMessage[], modelTurn: ModelTurn | undefined) => Promise<void>;
}

export interface ReplyOutcome {
  status: 'posted' | 'notice' | 'already-answered' | 'unknown-persona' | 'no-permission';
  /** The persona's posts, in order, as the conversation will see them. */
  posts: ChannelMessage[];
  host?: string;
  model?: string;
  usage?: { inputTokens: number; outputTokens: number } | null;
  modelLatencyMs?: number;
  /** Time from the first model token to the first visible text, when streamed. */
  firstTokenToVisibleMs?: number;
  /** The model call, as a transcript records it (absent when the text came from an earlier attempt). */
  modelTurn?: ModelTurn;
}

export async function answerTurn(turn: Turn, historyLimit: number, deps: ReplyDeps): Promise<ReplyOutcome> {
  const { trigger, personaId, channelId } = turn;
  const log = deps.log.child({ channelId, triggerId: trigger.id, personaId });
  const persona = deps.personas.get(personaId);
  if (!persona) {
    log.warn('turn names a persona this worker does not know; dropped');
    return { status: 'unknown-persona', posts: [] };
  }
  const speaker: Speaker = { personaId, name: persona.name, ...(persona.avatarUrl ? { avatarUrl: persona.avatarUrl } : {}) };

  let progress = await deps.ledger.progress(trigger.id, personaId);
  if (progress.done) return { status: 'already-answered', posts: [] };
  const attempt = await deps.ledger.startAttempt(trigger.id, personaId);
  const lastAttempt = attempt >= deps.maxAttempts;

  try {
    let outcome: ReplyOutcome = { status: 'posted', posts: [] };
    if (progress.text === undefined) {
      outcome = await generate(turn, persona, speaker, progress, historyLimit, lastAttempt, deps, log);
      progress = await deps.ledger.progress(trigger.id, personaId);
    }
    const posts = await deliver(turn, persona, speaker, progress, deps);
    await deps.onPosted?.(turn, posts, outcome.modelTurn);
    await deps.ledger.markDone(trigger.id, personaId);
    log.info({ pieces: posts.length, status: outcome.status, host: outcome.host }, 'reply posted');
    return { ...outcome, posts };
  } catch (err) {
    if (!(err instanceof MissingPermissionError)) throw err;
    // Without webhooks personas cannot speak; say so plainly, once per turn, as the bot itself.
    log.warn({ err: err.message }, 'missing permission');
    await deps.discord
      .postAsBot(channelId, `${persona.name} cannot speak here: chorus needs the **Manage Webhooks** permission in this channel.`)
      .catch((e: Error) => log.error({ err: e.message }, 'could not tell the channel about the missing permission'));
    await deps.ledger.markDone(trigger.id, personaId);
    return { status: 'no-permission', posts: [] };
  }
}

async function generate(
  turn: Turn,
  persona: Persona,
  speaker: Speaker,
  progress: ReplyProgress,
  historyLimit: number,
  lastAttempt: boolean,
  deps: ReplyDeps,
  log: Logger,
): Promise<ReplyOutcome> {
  const { trigger, personaId, channelId } = turn;
  const history = await channelHistory(deps, channelId, historyLimit);
  const context = buildContext(persona, history, trigger, { maxMessages: historyLimit, maxTokens: deps.maxTokens });
  const preview = progress.posted.get(0);
  // Typing once per reply, and only until something is visible; not awaited: it must not delay the model.
  // Sent on the next turn of the event loop, so the model request leaves first.
  if (!preview) setImmediate(() => void deps.discord.typing(channelId).catch((err: Error) => log.debug({ err: err.message }, 'typing indicator failed')));
  const streamer =
    deps.streamIntervalMs > 0
      ? createStreamer({
          discord: deps.discord,
          channelId,
          speaker,
          intervalMs: deps.streamIntervalMs,
          ...(preview ? { existing: { id: preview.messageId, webhookId: preview.webhookId } } : {}),
          beforePost: () => deps.ledger.markPending(trigger.id, personaId, 0),
          afterPost: (posted) => deps.ledger.recordPost(trigger.id, personaId, 0, { messageId: posted.id, webhookId: posted.webhookId, final: false }, turn.depth),
          log,
        })
      : undefined;
  let firstTokenAt: number | undefined;
  const onText = (delta: string) => {
    firstTokenAt ??= Date.now();
    streamer?.onText(delta);
  };

  let text: string;
  let outcome: ReplyOutcome;
  try {
    const answer = await askPersona(persona, context.prompt, deps.clientFor, onText);
    await streamer?.settle();
    if (answer.kind === 'answered') {
      text = answer.completion.text.trim() || '*(no answer)*';
      const visibleAt = streamer?.firstVisibleAt();
      outcome = {
        status: 'posted',
        posts: [],
        host: hostLabel(answer.host),
        model: answer.completion.model,
        usage: answer.completion.usage,
        modelLatencyMs: answer.latencyMs,
        ...(visibleAt && firstTokenAt ? { firstTokenToVisibleMs: visibleAt - firstTokenAt } : {}),
        modelTurn: toModelTurn(answer),
      };
      if (answer.attempts.length) log.info({ attempts: answer.attempts }, 'answered by a fallback host');
    } else {
      log.warn({ attempts: answer.attempts }, 'no host could answer');
      text = unavailableNotice(persona, answer.attempts);
      outcome = { status: 'notice', posts: [] };
    }
  } catch (err) {
    await streamer?.settle();
    if (!(err instanceof RetryableHostError) || !lastAttempt) throw err;
    log.warn({ attempts: err.attempts }, 'host kept failing; giving up with a notice');
    text = unavailableNotice(persona, err.attempts, true);
    outcome = { status: 'notice', posts: [] };
  }
  await deps.ledger.saveText(trigger.id, personaId, text, { host: outcome.host, model: outcome.model, usage: outcome.usage });
  // The preview already shows the whole first piece: no final edit needed.
  const shownMessage = await streamer?.settle();
  if (shownMessage && streamer?.shown() === splitMessage(text)[0]) {
    await deps.ledger.recordPost(trigger.id, personaId, 0, { messageId: shownMessage.id, webhookId: shownMessage.webhookId, final: true }, turn.depth);
  }
  return outcome;
}

/** Posts what is missing of the saved text, finalises a streamed preview, never repeats a piece. */
async function deliver(turn: Turn, persona: Persona, speaker: Speaker, progress: ReplyProgress, deps: ReplyDeps): Promise<ChannelMessage[]> {
  const { trigger, personaId, channelId } = turn;
  const pieces = splitMessage(progress.text ?? '');
  const target = { channelId, key: trigger.id, who: personaId, depth: turn.depth, speaker, after: trigger.id };
  const posted = await postPieces(deps, target, pieces, progress);
  const posts: ChannelMessage[] = posted.map((p, i) => ({
    id: p.id,
    authorId: p.webhookId,
    authorName: persona.name,
    content: pieces[i]!,
    personaId,
    isBot: true,
    createdAt: new Date().toISOString(),
  }));
  // The persona's own words go into the channel history now, before the next turn reads it.
  await deps.history.add(channelId, posts);
  await deps.ledger.notePost(channelId, personaId, Date.now());
  return posts;
}
