// One turn: context → model (streamed) → post as the persona → remember → route what it called for.
// Safe to run again: a retry after a crash resumes where the last attempt stopped, never asks the
// model twice for text already saved, and never posts a piece twice.
import { type Host, type Persona } from '../personas/schema.ts';
import { buildContext, WINDOW_STEP, withoutOwnName } from '../core/context.ts';
import type { ChannelRef, DiscordEdge, Speaker } from '../core/discord.ts';
import { classifyDiscordError, discordAway, MissingPermissionError, ThreadLockedError, type ChannelPermission } from '../core/rest.ts';
import type { ChannelAccess } from '../core/access.ts';
import type { HistoryStore } from '../core/history.ts';
import type { HostClient, Usage } from '../core/hosts/clients.ts';
import { askPersona, readHealthAhead, RetryableHostError, type AskOptions } from '../core/hosts/fallback.ts';
import { answerNotice, cutOffMark, reasoned, unavailableNotice } from '../core/hosts/notices.ts';
import { budgetNotice, dayOf, limitsOf, type BudgetVerdict, type Budgets } from '../core/budgets.ts';
import type { Ledger, ReplyKind, ReplyProgress } from '../core/ledger.ts';
import { describeError, type Logger } from '../core/log.ts';
import { readableContent, type ChannelMessage } from '../core/messages.ts';
import type { Place, Turn } from '../core/replies.ts';
import { route } from '../core/route.ts';
import type { Settings, SettingsStore } from '../core/settings.ts';
import { splitMessage } from '../core/split.ts';
import type { ModelTurn } from '../core/transcript/events.ts';
import { toModelTurn } from '../core/transcript/model-turn.ts';
import { locateShown } from '../core/transcript/shown.ts';
import { channelHistory } from './history.ts';
import { postPiece, postPieces, type PostTarget } from './post.ts';
import { createStreamer } from './stream.ts';
import { keepTyping } from './typing.ts';

export interface ReplyDeps {
  personas: ReadonlyMap<string, Persona>;
  personaList: readonly Persona[];
  discord: DiscordEdge;
  ledger: Ledger;
  history: HistoryStore;
  access: ChannelAccess;
  botUserId(): Promise<string>;
  clientFor: (host: Host) => HostClient | undefined;
  maxTokens: number;
  /** Tries of a turn whose host keeps failing, before a notice stands in for the answer. */
  maxAttempts: number;
  backoffMs: number;
  streamIntervalMs: number;
  maxPerMessage: number;
  random: () => number;
  log: Logger;
  /** Host health and the metrics observer, for fallback. */
  hostOptions?: AskOptions;
  /** Daily token budgets (per server, per persona in a server). */
  budgets?: Budgets;
  /** The channel's settings as they are now: a follow-up obeys the roster and limits of its moment. */
  settings?: Pick<SettingsStore, 'resolve'>;
  /** Called with a persona's posts once delivered (recorded channels keep them). */
  onPosted?: (place: Place, turn: Turn, posts: ChannelMessage[], saved: SavedReply) => Promise<void>;
  /** The recording the channel is in, if any (read with the turn's first reads; saved with its text). */
  recordingOf?: (channelId: string) => Promise<string | undefined>;
}

/** What is saved with a reply's text, so any later attempt records and routes it the same way. */
export interface SavedReply {
  kind: ReplyKind;
  host?: string;
  model?: string;
  usage?: Usage | null;
  /** The model call behind the text (absent for a notice, unless it stands for an empty answer). */
  modelTurn?: ModelTurn;
  /**
   * The channel's recording when the answer was made (null: none): its posts belong there, even
   * when a retry posts or records them after the recording was stopped, or one begun. (Absent in a
   * reply saved before chorus knew this: the channel's recording at the time of the record.)
   */
  recordIn?: string | null;
  /** What chorus added at the end of the text, for the channel only (cutOffMark): left out of what models read and of the record. */
  mark?: string;
}

export type TurnOutcome =
  | {
      status: 'posted' | 'notice';
      posts: ChannelMessage[];
      followUps: Turn[];
      saved: SavedReply;
      modelLatencyMs?: number;
      /** Time from the first model token to the first visible text, when streamed. */
      firstTokenToVisibleMs?: number;
      /** When this attempt asked the model, and when its answer first showed (ms since the epoch). */
      requestedAt?: number;
      visibleAt?: number;
      /** Which try of the turn this was (1: the first; a retry's clock starts when it was queued). */
      attempt?: number;
    }
  | { status: 'already-answered'; followUps: Turn[] }
  /** The host failed in passing: try this turn again on its own, later. */
  | { status: 'retry-later'; attempt: number; delayMs: number }
  | { status: 'unknown-persona' | 'no-permission' | 'undeliverable' | 'over-budget' | 'withdrawn' };

/** Added under an answer cut off mid-stream while its turn waits to be tried again. */
export const INTERRUPTED = '-# (interrupted: the model host failed mid-answer; trying again)';
/** Added under an answer cut off mid-stream while it is asked again now, of another host or with less. */
export const SWITCHED = '-# (interrupted: the model host failed mid-answer; asking again)';

/** Why a turn is let go before its model call, if it is. Pure. */
function letGoBefore(left: boolean, withdrawn: boolean, begun: boolean, missing: ReadonlySet<ChannelPermission>): { status: 'no-permission' | 'withdrawn'; why: string; level: 'info' | 'debug' } | undefined {
  // Removed from the server: every request there would be refused (and counted toward Discord's
  // limit on invalid requests), a notice too.
  if (left) return { status: 'no-permission', why: 'skipped: chorus was removed from this server', level: 'info' };
  // Deleted before its answer began: its words are not to be read or answered. (An answer already
  // under way is finished: nothing is left half-said.)
  if (withdrawn && !begun) return { status: 'withdrawn', why: 'skipped: the message was deleted before it was answered', level: 'info' };
  // Refused before and not granted since: asking again would only cost another invalid request.
  if (missing.has('ManageWebhooks')) return { status: 'no-permission', why: 'skipped: chorus lacks Manage Webhooks here', level: 'debug' };
  return undefined;
}

/** Discord refused the bot token: nothing will work until it is replaced. */
export class BotTokenRefusedError extends Error {
  override name = 'BotTokenRefusedError';
}

export async function answerTurn(place: Place, turn: Turn, settings: Settings, deps: ReplyDeps): Promise<TurnOutcome> {
  const { trigger, personaId } = turn;
  const channel: ChannelRef = { channelId: place.channelId, ...(place.parentId ? { parentId: place.parentId } : {}) };
  const log = deps.log.child({ channelId: place.channelId, triggerId: trigger.id, personaId });
  const persona = deps.personas.get(personaId);
  if (!persona) {
    // Another worker may know it: during a deploy that adds a persona, the gateway routes to it
    // before every worker has read its file. Tried again later, as a passing failure is; dropped,
    // said as an error, once the tries are spent (the persona files differ between processes).
    // (Counted apart from the turn's own tries: the worker that knows it starts at its first.)
    const [progress, unknown] = await Promise.all([deps.ledger.progress(trigger.id, personaId), deps.ledger.startAttempt(trigger.id, `${personaId} unknown`)]);
    if (progress.done) return { status: 'already-answered', followUps: parseTurns(progress.followUps) };
    if (unknown < deps.maxAttempts) {
      const delayMs = deps.backoffMs * 2 ** (unknown - 1);
      log.warn({ attempt: unknown, delayMs }, 'turn names a persona this worker does not know; it will be tried again, by whichever worker takes it');
      return { status: 'retry-later', attempt: unknown, delayMs };
    }
    log.error({ attempts: unknown }, 'turn names a persona no worker that took it knows (are the persona files the same for every process?); dropped');
    await deps.ledger.markDone(trigger.id, personaId);
    return { status: 'unknown-persona' };
  }
  const speaker: Speaker = { personaId, name: persona.name, ...(persona.avatarUrl ? { avatarUrl: persona.avatarUrl } : {}) };

  // One round trip for all a turn usually needs before its model call: its progress (counting this
  // attempt), the channel's refused permissions, the history it will read, and what is left of the
  // server's token budgets (when it has any).
  const hostOptions = readHealthAhead(deps.hostOptions, persona);
  const budget = deps.budgets && place.guildId ? deps.budgets.check(place.guildId, persona.id, limitsOf(settings), Date.now()) : undefined;
  let [progress, missing, history, verdict, left, recordIn] = await Promise.all([
    deps.ledger.beginAttempt(trigger.id, personaId),
    deps.access.missing(place.channelId, place.parentId),
    deps.history.read(place.channelId, settings.historyMessages, trigger.id),
    budget,
    place.guildId ? deps.access.hasLeft(place.guildId) : false,
    deps.recordingOf?.(place.channelId),
  ]);
  if (progress.done) return { status: 'already-answered', followUps: parseTurns(progress.followUps) };
  const letGo = letGoBefore(left, history.withdrawn, progress.text !== undefined || progress.posted.size > 0, missing);
  if (letGo) {
    log[letGo.level](letGo.why);
    await deps.ledger.markDone(trigger.id, personaId);
    return { status: letGo.status };
  }
  const attempt = progress.attempts;
  const target: PostTarget = { channel, key: trigger.id, who: personaId, depth: turn.depth, notice: false, speaker, after: trigger.id };

  try {
    let generated: Extract<TurnOutcome, { status: 'posted' | 'notice' }> | undefined;
    if (progress.text === undefined) {
      // (A turn with a preview already showing is finished whatever the budget: nothing is left half-said.)
      if (progress.posted.size === 0 && deps.budgets && verdict && !verdict.ok) {
        await letGoOverBudget(place, turn, persona, verdict, deps.budgets, deps, log);
        return { status: 'over-budget' };
      }
      const result = await generate(place, channel, turn, persona, target, progress, attempt, settings, history, !missing.has('SendMessages'), recordIn, hostOptions ? { ...deps, hostOptions } : deps, log);
      if (result.status === 'retry-later') return result;
      ({ progress, ...generated } = result);
    }
    const saved = JSON.parse(progress.meta ?? '{"kind":"reply"}') as SavedReply;
    const posts = await deliver(place, persona, { ...target, notice: saved.kind === 'notice' }, progress, deps);
    const visibleAt = generated ? (generated.visibleAt ?? Date.now()) : undefined;
    // Recording the posts and routing them are independent: their round trips overlap. A retry
    // whose earlier attempt already chose the follow-ups keeps those (not a new roll of the dice).
    const [, routed] = await Promise.all([
      deps.onPosted?.(place, turn, posts, saved),
      saved.kind === 'reply' && progress.followUps === undefined ? routeFollowUps(place, turn, posts, settings, deps) : undefined,
    ]);
    // Saved with the mark that the reply is done, in one step: a crash can come before or after,
    // never between. Whichever attempt's follow-ups were saved first are the ones kept.
    // (The follow-ups were counted against the channel's minute when they were claimed.)
    const followUps = parseTurns(await deps.ledger.markDone(trigger.id, personaId, routed ? JSON.stringify(routed.turns) : undefined));
    log.info({ pieces: posts.length, kind: saved.kind, host: saved.host }, 'reply posted');
    return {
      status: saved.kind === 'notice' ? 'notice' : 'posted',
      posts,
      followUps,
      saved,
      ...(generated?.modelLatencyMs === undefined ? {} : { modelLatencyMs: generated.modelLatencyMs }),
      ...(generated?.firstTokenToVisibleMs === undefined ? {} : { firstTokenToVisibleMs: generated.firstTokenToVisibleMs }),
      ...(generated?.requestedAt === undefined ? {} : { requestedAt: generated.requestedAt }),
      ...(visibleAt === undefined ? {} : { visibleAt, attempt }),
    };
  } catch (err) {
    return settleDiscordFailure(err, place, turn, persona, deps, log);
  }
}

/** Discord refused for good: remember, tell the channel once, and let the turn go. Passing failures rethrow. */
async function settleDiscordFailure(err: unknown, place: Place, turn: Turn, persona: Persona, deps: ReplyDeps, log: Logger): Promise<TurnOutcome> {
  const kind = classifyDiscordError(err);
  const { trigger, personaId } = turn;
  if (kind === undefined || kind === 'transient') throw err;
  if (kind === 'unauthorized') throw new BotTokenRefusedError('Discord refused the bot token (HTTP 401): it was reset or revoked. Put the new token in DISCORD_TOKEN and restart chorus.');
  await deps.ledger.markDone(trigger.id, personaId);
  if (err instanceof MissingPermissionError) {
    // (Webhooks are a thread's parent's: refused there, they are refused in all its threads.)
    const where = err.permission === 'ManageWebhooks' ? (place.parentId ?? place.channelId) : place.channelId;
    const first = await deps.access.refuse(where, place.guildId, err.permission);
    log.warn({ permission: err.permission, first }, 'missing permission');
    if (first && err.permission === 'ManageWebhooks') {
      await tellChannelOnce(deps, place, `missing-${err.permission}`, `${persona.name} cannot speak here: chorus needs the **Manage Webhooks** permission in this channel. Personas stay silent here until it is granted.`, log);
    }
    return { status: 'no-permission' };
  }
  if (err instanceof ThreadLockedError) {
    // A moderator closed the thread: no notice (it would be refused too), nothing to remember.
    log.warn('the thread is locked: the reply is let go');
    return { status: 'undeliverable' };
  }
  const { message } = describeError(err);
  log.error({ err: message, kind }, 'Discord refused the reply for good');
  if (kind === 'refused') await tellChannelOnce(deps, place, `refused-${trigger.id}-${personaId}`, `${persona.name}'s reply could not be posted: Discord refused it (${message.slice(0, 120)}).`, log);
  return { status: 'undeliverable' };
}

/**
 * A spent budget: the turn is let go without asking the model, and the channel told once a day (a
 * plain bot message, which no model reads).
 */
async function letGoOverBudget(place: Place, turn: Turn, persona: Persona, verdict: Extract<BudgetVerdict, { ok: false }>, budgets: Budgets, deps: ReplyDeps, log: Logger): Promise<void> {
  const now = Date.now();
  log.info({ scope: verdict.scope, used: verdict.used, limit: verdict.limit }, 'token budget spent: turn not sent to the model');
  if (await budgets.firstNotice(place.channelId, verdict, persona.id, now)) {
    const which = verdict.scope === 'guild' ? 'guild' : `persona-${persona.id}`;
    await tellChannelOnce(deps, place, `budget-${dayOf(now)}-${which}`, budgetNotice(verdict, persona.name, now), log);
  }
  await deps.ledger.markDone(turn.trigger.id, turn.personaId);
}

/** A turn that will not be answered: let it go and tell the channel why, once. */
export async function reportUndelivered(place: Place, turn: Turn, why: string, deps: ReplyDeps): Promise<void> {
  const log = deps.log.child({ channelId: place.channelId, triggerId: turn.trigger.id, personaId: turn.personaId });
  await deps.ledger.markDone(turn.trigger.id, turn.personaId).catch(() => undefined);
  const name = deps.personas.get(turn.personaId)?.name ?? turn.personaId;
  await tellChannelOnce(deps, place, `undelivered-${turn.trigger.id}-${turn.personaId}`, `${name}'s reply could not be posted: ${why}.`, log);
}

/** A plain bot message, posted at most once per key; a failure is only logged (it is already bad news). */
async function tellChannelOnce(deps: ReplyDeps, place: Place, key: string, text: string, log: Logger): Promise<void> {
  if ((await deps.access.missing(place.channelId)).has('SendMessages')) return;
  const target: PostTarget = { channel: { channelId: place.channelId }, key: `notice-${place.channelId}-${key}`, who: 'chorus', depth: 0, notice: true, after: '0' };
  try {
    await postPiece(deps, target, 0, text, await deps.ledger.progress(target.key, target.who));
  } catch (err) {
    if (err instanceof MissingPermissionError) await deps.access.refuse(place.channelId, place.guildId, 'SendMessages');
    log.warn({ err: describeError(err).message }, 'could not tell the channel');
  }
}

async function generate(
  place: Place,
  channel: ChannelRef,
  turn: Turn,
  persona: Persona,
  target: PostTarget,
  progress: ReplyProgress,
  attempt: number,
  settings: Settings,
  cached: { filled: boolean; messages: ChannelMessage[] },
  mayType: boolean,
  recordIn: string | undefined,
  deps: ReplyDeps,
  log: Logger,
): Promise<(Extract<TurnOutcome, { status: 'posted' | 'notice' }> & { progress: ReplyProgress }) | Extract<TurnOutcome, { status: 'retry-later' }>> {
  const { trigger, personaId } = turn;
  const history = await channelHistory(deps, place.channelId, settings.historyMessages, cached).catch(async (err: unknown) => {
    // Discord away as the history was read from it: this run never reached the model, and waits for
    // Discord without spending a try (workers/worker.ts); the try it counted is given back.
    if (discordAway(err)) await deps.ledger.giveBackAttempt(target.key, target.who);
    throw err;
  });
  const preview = progress.posted.get(0);
  const streamer =
    deps.streamIntervalMs > 0
      ? createStreamer({
          intervalMs: deps.streamIntervalMs,
          ...(preview ? { existing: { id: preview.messageId, webhookId: preview.webhookId } } : {}),
          preview: (content) => postPiece(deps, target, 0, content, progress, false),
          edit: (posted, content) => deps.discord.editIfRoom(channel, posted, content, target.speaker),
          editDelay: (webhookId) => deps.discord.editDelay(channel, webhookId),
          roomToStream: () => deps.discord.roomToStream(channel),
          onVisible: () => typing?.stop(),
          log,
        })
      : undefined;
  // Typing only while nothing shows (see workers/typing.ts). Never awaited: it must not delay the answer.
  let firstTokenAt: number | undefined;
  const typing = mayType && !preview ? keepTyping(place.channelId, { discord: deps.discord, refused: () => deps.access.refuse(place.channelId, place.guildId, 'SendMessages'), log }) : undefined;
  const onText = (delta: string) => {
    firstTokenAt ??= Date.now();
    streamer?.onText(delta);
  };

  let text: string;
  let saved: SavedReply;
  let latency: number | undefined;
  const requestedAt = Date.now();
  // A new channel's first webhook is made while the model thinks, not after it has answered.
  deps.discord.prepare(channel);
  try {
    // The history is cut to the budget; again, shorter, for a host that finds it too long for its model.
    const reading = { budget: deps.maxTokens, build: (maxTokens: number) => buildContext(persona, history, trigger, { maxMessages: settings.historyMessages, maxTokens, step: WINDOW_STEP }) };
    const answer = await askPersona(persona, reading, deps.clientFor, onText, { ...deps.hostOptions, onTextDiscarded: () => streamer?.discard(SWITCHED) });
    if (answer.kind === 'answered') {
      const said = withoutOwnName(answer.completion.text, persona).trim();
      const { kept, prompt } = answer.context;
      const modelTurn = toModelTurn(answer, locateShown(answer.request.body, kept, prompt.system), attempt, progress.failedTries);
      // An answer with no text, or one its host stopped part way, is shown as a notice (not read or
      // answered as the persona's words), and recorded as what it was, with its stop reason.
      const notice = answerNotice(persona, said, answer.completion.stopReason, reasoned(answer.completion));
      const mark = notice ? undefined : cutOffMark(persona, answer.completion.stopReason);
      text = notice ?? said + (mark ?? '');
      saved = { kind: notice ? 'notice' : 'reply', host: modelTurn.host.label, model: answer.completion.model, usage: answer.completion.usage, modelTurn, ...(mark ? { mark } : {}) };
      latency = answer.latencyMs;
      if (answer.attempts.length) log.info({ attempts: answer.attempts }, 'answered by a fallback host');
    } else {
      log.warn({ attempts: answer.attempts }, 'no host could answer');
      text = unavailableNotice(persona, answer.attempts);
      saved = { kind: 'notice' };
    }
  } catch (err) {
    typing?.stop();
    const shownPreview = await streamer?.settle();
    if (!(err instanceof RetryableHostError)) throw err;
    if (attempt < deps.maxAttempts) {
      const delayMs = Math.max(deps.backoffMs * 2 ** (attempt - 1), err.retryAfterMs ?? 0);
      // What each host did on this try goes into the record of the try that answers.
      await deps.ledger.noteFailedTry(target.key, target.who, { try: attempt, failedAt: new Date().toISOString(), attempts: err.attempts });
      log.warn({ attempt, delayMs, err: err.message }, 'host failed in passing; the turn will be tried again');
      // An answer cut off mid-stream says so while it waits (seconds, or minutes when the host asks
      // for them), rather than stand as if finished; the retry's text replaces it.
      const marked = `${streamer?.shownWords() ?? ''}\n${INTERRUPTED}`;
      if (shownPreview && streamer?.shownWords() && splitMessage(marked).length === 1) {
        await deps.discord.editAs(channel, shownPreview, marked, target.speaker).catch((e: unknown) => log.debug({ err: describeError(e) }, 'could not mark the preview as interrupted'));
      }
      return { status: 'retry-later', attempt, delayMs };
    }
    log.warn({ attempts: err.attempts }, 'host kept failing; giving up with a notice');
    text = unavailableNotice(persona, err.attempts, true);
    saved = { kind: 'notice' };
  } finally {
    typing?.stop();
  }
  const shownPreview = await streamer?.settle();
  // Sent together, in this order on one connection; saving the text returns the progress (holding
  // whichever attempt's text was saved first), so posting needs no read of its own. A preview already
  // showing the whole first piece is final as it is: no edit to say it again (were its mark lost, a
  // retry would only edit it to the same words).
  const guildId = place.guildId;
  const [, savedProgress] = await Promise.all([
    shownPreview && streamer?.shown() === splitMessage(text)[0]
      ? deps.ledger.recordPost(target.key, target.who, 0, { messageId: shownPreview.id, webhookId: shownPreview.webhookId, final: true }, { depth: target.depth, notice: target.notice })
      : undefined,
    deps.ledger.saveText(trigger.id, personaId, text, deps.recordingOf ? { ...saved, recordIn: recordIn ?? null } : saved),
    saved.modelTurn && guildId
      ? deps.budgets?.add(guildId, personaId, saved.usage, Date.now()).catch((err: unknown) => log.warn({ err: describeError(err).message }, 'could not count tokens against the budgets'))
      : undefined,
  ]);
  const visibleAt = streamer?.firstVisibleAt();
  return {
    status: saved.kind === 'notice' ? 'notice' : 'posted',
    posts: [],
    followUps: [],
    saved,
    progress: savedProgress,
    ...(latency === undefined ? {} : { modelLatencyMs: latency }),
    ...(visibleAt && firstTokenAt ? { firstTokenToVisibleMs: Math.max(0, visibleAt - firstTokenAt) } : {}),
    requestedAt,
    ...(visibleAt ? { visibleAt } : {}),
  };
}

/** Posts what is missing of the saved text, finalises a streamed preview, never repeats a piece. */
async function deliver(place: Place, persona: Persona, target: PostTarget, progress: ReplyProgress, deps: ReplyDeps): Promise<ChannelMessage[]> {
  const pieces = splitMessage(progress.text ?? '');
  const posted = await postPieces(deps, target, pieces, progress);
  // A mark chorus added under the answer is shown, never read back or recorded as the persona's words.
  const { mark } = JSON.parse(progress.meta ?? '{}') as Pick<SavedReply, 'mark'>;
  const words = (piece: string, i: number) => (mark && i === pieces.length - 1 && piece.endsWith(mark) ? piece.slice(0, -mark.length) : piece);
  const posts: ChannelMessage[] = posted.map((p, i) => ({
    id: p.id,
    authorId: p.webhookId,
    authorName: persona.name,
    // What later turns read: mention syntax made readable, as for everyone else's messages.
    content: readableContent(words(pieces[i]!, i), []),
    personaId: persona.id,
    ...(target.notice ? { notice: true } : {}),
    isBot: true,
    createdAt: new Date().toISOString(),
  }));
  // The persona's own words go into the channel history now, before the next turn reads them.
  await Promise.all([deps.history.add(place.channelId, posts), deps.ledger.notePost(place.channelId, persona.id, Date.now())]);
  return posts;
}

/** A persona's answer may address others: routed like any message, as a persona post. */
async function routeFollowUps(place: Place, turn: Turn, posts: ChannelMessage[], settings: Settings, deps: ReplyDeps): Promise<{ turns: Turn[] } | undefined> {
  const last = posts.at(-1);
  if (!last) return undefined;
  const now = Date.now();
  // The roster and limits as they are now, not as the job carried them from the human's message: a
  // moderator's /dismiss or /config stops a chain already under way. Read beside the activity.
  const [activity, current] = await Promise.all([deps.ledger.activity(place.channelId, now), deps.settings?.resolve(place)]);
  const limits = current ? { ...settings, ...pickLimits(current.values) } : settings;
  // The channel's minute is counted by the claim below, which knows this post's own earlier claims
  // (a retry's); counted here too, they would cost the retry its follow-ups.
  const { answer, skipped } = route(
    { content: posts.map((p) => p.content).join('\n'), author: { kind: 'persona', personaId: turn.personaId, depth: turn.depth } },
    deps.personaList,
    { ...limits, ...activity, ambientRepliesLastMinute: 0 },
    { maxPerMessage: deps.maxPerMessage, now, random: deps.random },
  );
  // A persona's cooldown and the channel's per-minute count are claimed when it is chosen, not when
  // it has posted: follow-ups routed by other workers meanwhile (siblings naming the same persona, a
  // burst of chains) find them taken.
  const claims = await deps.ledger.claimFollowUps(place.channelId, answer.map((d) => d.personaId), last.id, { cooldownSeconds: limits.cooldownSeconds, perMinute: limits.repliesPerMinute }, now);
  answer.forEach((d, i) => claims[i] !== 'claimed' && skipped.push({ personaId: d.personaId, reason: claims[i] as 'cooldown' | 'channel-rate' }));
  if (skipped.length) deps.log.info({ channelId: place.channelId, from: turn.personaId, skipped }, 'persona post not answered by some');
  const turns = answer.filter((_, i) => claims[i] === 'claimed');
  return { turns: turns.map((d) => ({ personaId: d.personaId, reason: d.trigger, depth: d.depth, trigger: last })) };
}

/** What decides who answers a persona's post: the roster and the limits on model-to-model talk. */
function pickLimits(s: Settings): Pick<Settings, 'roster' | 'chainDepth' | 'cooldownSeconds' | 'repliesPerMinute' | 'interjectionProbability'> {
  return { roster: s.roster, chainDepth: s.chainDepth, cooldownSeconds: s.cooldownSeconds, repliesPerMinute: s.repliesPerMinute, interjectionProbability: s.interjectionProbability };
}

function parseTurns(raw: string | undefined): Turn[] {
  return raw ? (JSON.parse(raw) as Turn[]) : [];
}
