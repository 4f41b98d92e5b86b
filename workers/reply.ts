// One reply job: context → model → post as the persona → remember. Safe to run again: a retry
// after a crash resumes where the last attempt stopped and never posts a piece twice.
import { hostLabel, type Host, type Persona } from '../personas/schema.ts';
import { buildContext, type ContextLimits } from '../core/context.ts';
import type { DiscordEdge } from '../core/discord.ts';
import type { HostClient } from '../core/hosts/clients.ts';
import { askPersona, RetryableHostError, unavailableNotice } from '../core/hosts/fallback.ts';
import type { Ledger } from '../core/ledger.ts';
import type { Logger } from '../core/log.ts';
import type { ReplyJob } from '../core/queue.ts';
import { splitMessage } from '../core/split.ts';
import { recentHistory } from './history.ts';

export interface ReplyDeps {
  personas: ReadonlyMap<string, Persona>;
  discord: DiscordEdge;
  ledger: Ledger;
  clientFor: (host: Host) => HostClient | undefined;
  limits: ContextLimits;
  log: Logger;
}

export interface ReplyOutcome {
  status: 'posted' | 'notice' | 'already-answered' | 'unknown-persona';
  messageIds: string[];
  host?: string;
  model?: string;
  usage?: { inputTokens: number; outputTokens: number } | null;
  modelLatencyMs?: number;
}

/** `lastAttempt`: a passing failure now gets a notice instead of another retry. */
export async function processReply(job: ReplyJob, lastAttempt: boolean, deps: ReplyDeps): Promise<ReplyOutcome> {
  const { trigger, personaId, channelId } = job;
  const log = deps.log.child({ channelId, triggerId: trigger.id, personaId });
  const persona = deps.personas.get(personaId);
  if (!persona) {
    log.warn('job names a persona this worker does not know; dropped');
    return { status: 'unknown-persona', messageIds: [] };
  }

  let progress = await deps.ledger.progress(trigger.id, personaId);
  if (progress.done) return { status: 'already-answered', messageIds: [...progress.posted.values()] };

  let outcome: ReplyOutcome = { status: 'posted', messageIds: [] };
  if (progress.text === undefined) {
    const history = await recentHistory(deps.discord, deps.ledger, channelId, trigger.id, deps.limits.maxMessages);
    const context = buildContext(persona, history, trigger, deps.limits);
    let text: string;
    try {
      const answer = await askPersona(persona, context.prompt, deps.clientFor);
      if (answer.kind === 'answered') {
        text = answer.completion.text.trim() || '*(no answer)*';
        outcome = {
          status: 'posted',
          messageIds: [],
          host: hostLabel(answer.host),
          model: answer.completion.model,
          usage: answer.completion.usage,
          modelLatencyMs: answer.latencyMs,
        };
        if (answer.attempts.length) log.info({ attempts: answer.attempts }, 'answered by a fallback host');
      } else {
        log.warn({ attempts: answer.attempts }, 'no host could answer');
        text = unavailableNotice(persona, answer.attempts);
        outcome = { status: 'notice', messageIds: [] };
      }
    } catch (err) {
      if (!(err instanceof RetryableHostError) || !lastAttempt) throw err;
      log.warn({ attempts: err.attempts }, 'host kept failing; giving up with a notice');
      text = unavailableNotice(persona, err.attempts, true);
      outcome = { status: 'notice', messageIds: [] };
    }
    await deps.ledger.saveText(trigger.id, personaId, text, outcome);
    progress = await deps.ledger.progress(trigger.id, personaId);
  }

  const pieces = splitMessage(progress.text ?? '');
  for (const [index, piece] of pieces.entries()) {
    if (progress.posted.has(index)) continue;
    if (progress.pending.has(index)) {
      // A previous attempt sent this piece but died before recording it: look before posting again.
      const found = await findOwnPost(deps.discord, channelId, trigger.id, persona.name, piece);
      if (found) {
        await deps.ledger.recordPost(trigger.id, personaId, index, found);
        progress.posted.set(index, found);
        continue;
      }
    }
    await deps.ledger.markPending(trigger.id, personaId, index);
    const message = await deps.discord.postAs(channelId, { name: persona.name, ...(persona.avatarUrl ? { avatarUrl: persona.avatarUrl } : {}) }, piece);
    await deps.ledger.recordPost(trigger.id, personaId, index, message.id);
    progress.posted.set(index, message.id);
  }
  await deps.ledger.markDone(trigger.id, personaId);
  log.info({ pieces: pieces.length, status: outcome.status }, 'reply posted');
  return { ...outcome, messageIds: [...progress.posted.values()] };
}

async function findOwnPost(discord: DiscordEdge, channelId: string, afterId: string, username: string, content: string): Promise<string | undefined> {
  const webhookId = await discord.webhookIdFor(channelId);
  const after = await discord.messagesAfter(channelId, afterId, 100);
  return after.find((m) => m.webhook_id === webhookId && m.author.username === username && m.content === content)?.id;
}
