// What the gateway does with messages: keep each channel's history, route what people wrote, and
// queue one reply job per message that someone should answer. It never calls a model.
import { askQuestion } from '../core/interview/sessions.ts';
import { noteHeard } from './catch-up.ts';
import { readableContent, repliedToId, withForwarded, type ChannelMessage } from '../core/messages.ts';
import { jobIds, type Place } from '../core/replies.ts';
import { route, type Author } from '../core/route.ts';
import { eventId, TRANSCRIPT_FORMAT_VERSION } from '../core/transcript/events.ts';
import type { LiveSession } from '../core/transcript/live.ts';
import { displayName, SPOKEN_TYPES, toChannelMessage, type MessageCreate, type MessageUpdate } from './payloads.ts';
import type { Services } from './services.ts';

/**
 * Records the message and queues a reply job when personas should answer it. Returns how many answer.
 * A message read `late` (bot/catch-up.ts), which the gateway may have routed before, is answered by
 * those it addresses only: no second roll of the dice for an interjection.
 */
export async function handleMessage(m: MessageCreate, s: Services, botUserId: string, receivedAt = Date.now(), late = false): Promise<number> {
  // The workers record and route their own posts; chorus's own notices and answers are not conversation.
  if (m.author.id === botUserId) return 0;
  if (m.webhook_id && (await s.isOurWebhook(m.webhook_id))) return 0;
  // Pins, joins, boosts, thread notices…: Discord speaking, not a person. Never routed, never read.
  if (!SPOKEN_TYPES.has(m.type)) return 0;

  const guildId = m.guild_id;
  const rolePersonas = guildId && m.mention_roles?.length ? await s.roles.personasOf(guildId, m.mention_roles) : new Map<string, string>();
  if (guildId && m.mention_roles?.length) await knowRoleNames(s, guildId, m.mention_roles.filter((r) => !rolePersonas.has(r)));
  const roleName = (roleId: string) => {
    const personaId = rolePersonas.get(roleId);
    if (personaId) return s.personas.find((p) => p.id === personaId)?.name ?? personaId;
    return guildId ? s.guildFacts.roleName(guildId, roleId) : undefined;
  };
  const trigger = toChannelMessage(m, roleName);
  const author: Author = m.author.bot || m.webhook_id ? { kind: 'bot' } : { kind: 'human' };
  // Sent now, awaited with the job: the two go to Redis together. (Settings, live sessions and
  // thread parents are answered from memory; see core/changes.ts.)
  const recorded = Promise.all([
    // (Read late from Discord, it knows less than a copy the gateway kept: no nicknames.)
    s.history.add(m.channel_id, [trigger], { complete: s.guildFacts.claimEmpty(m.channel_id), keepHeld: late }),
    late ? undefined : noteHeard(s.redis, s.config.CHORUS_PREFIX, m.channel_id, guildId, receivedAt),
  ]);
  recorded.catch(() => undefined); // awaited below on every path; never an unhandled rejection meanwhile
  const replyToId = repliedToId(m.message_reference);
  const [parentId, live, repliedTo] = await Promise.all([
    s.guildFacts.parentOf(m.channel_id),
    s.live.of(m.channel_id),
    author.kind === 'human' && replyToId ? s.ledger.postOf(replyToId) : undefined,
  ]);
  const place: Place = { ...(guildId ? { guildId } : {}), channelId: m.channel_id, ...(parentId ? { parentId } : {}) };
  if (live) {
    await recorded;
    // An interview thread is the interview's: its questions come from the interviewer, no one else's
    // messages start replies. A recorded channel goes on as usual, with every message kept.
    if (live.kind === 'interview') return interviewMessage(m, trigger, live, s);
    await recordChannelMessage(s, live.sessionId, trigger, author.kind === 'human');
  }
  if (author.kind === 'bot') {
    await recorded;
    return 0;
  }
  const { values: settings } = await s.settings.resolve(place);
  const now = Date.now();
  const chance = late ? 0 : settings.interjectionProbability;
  const activity = chance > 0 ? await s.ledger.activity(m.channel_id, now) : { lastPostAt: new Map<string, number>(), ambientRepliesLastMinute: 0 };
  const content = m.content ?? '';
  const mentions = [...rolePersonas].map(([roleId, personaId]) => ({ personaId, at: content.indexOf(`<@&${roleId}>`) }));
  const { answer, skipped } = route(
    { content, author, ...(repliedTo && !repliedTo.notice ? { repliedToPersonaId: repliedTo.personaId } : {}), mentions },
    s.personas,
    { ...settings, interjectionProbability: chance, ...activity },
    { maxPerMessage: s.config.MAX_PERSONAS_PER_MESSAGE, now, random: Math.random },
  );
  if (skipped.length) s.log.info({ messageId: m.id, channelId: m.channel_id, skipped }, 'some addressed personas will not answer');
  if (answer.length === 0) {
    await recorded;
    return 0;
  }
  const ambient = answer.filter((d) => d.trigger === 'interjection').length;
  // One job per message: a replayed event or a second routing of it is the same job, ignored.
  await Promise.all([
    recorded,
    ambient ? s.ledger.noteAmbient(m.channel_id, ambient, now) : undefined,
    s.replies.add(jobIds.message(m.id), {
      v: 3,
      ...place,
      settings,
      turns: answer.map((d) => ({ personaId: d.personaId, reason: d.trigger, depth: d.depth, trigger })),
      receivedAt,
    }),
  ]);
  s.log.debug({ messageId: m.id, channelId: m.channel_id, personas: answer.map((d) => d.personaId) }, 'routed');
  return answer.length;
}

/** Role names a mention needs; a failed look-up leaves them unknown (the message is not lost for it). */
async function knowRoleNames(s: Services, guildId: string, roleIds: string[]): Promise<void> {
  if (roleIds.length === 0) return;
  await s.guildFacts.knowRoles(guildId, roleIds).catch((err: unknown) => s.log.debug({ guildId, err: (err as Error).message }, 'could not read the guild\'s roles'));
}

async function interviewMessage(m: MessageCreate, trigger: ChannelMessage, live: LiveSession, s: Services): Promise<number> {
  if (m.author.bot || m.webhook_id || m.author.id !== live.interviewerId) return 0;
  // Queued whatever the session's state: the step answers in the thread when it cannot be put.
  await askQuestion(s.interviews, {
    step: 'ask',
    sessionId: live.sessionId,
    key: `message-${m.id}`,
    text: trigger.content,
    source: 'human',
    askedBy: { kind: 'human', userId: trigger.authorId, name: trigger.authorName },
    discordMessageId: m.id,
  });
  return 0;
}

/** Recorded through the outbox: a record store away neither loses the record nor holds up the answer. */
async function recordChannelMessage(s: Services, sessionId: string, m: ChannelMessage, human: boolean): Promise<void> {
  await s.outbox.put({
    v: TRANSCRIPT_FORMAT_VERSION,
    id: eventId(sessionId, 'message', m.id),
    sessionId,
    at: m.createdAt,
    type: 'channel_message',
    author: human ? { kind: 'human', userId: m.authorId, name: m.authorName } : { kind: 'system' },
    text: m.content,
    discordMessageId: m.id,
    ...(m.replyToId ? { replyToId: m.replyToId } : {}),
    ...(m.attachments?.length ? { attachments: m.attachments.map((a) => ({ name: a.name, ...(a.contentType ? { contentType: a.contentType } : {}) })) } : {}),
  });
}

/** An edit: models read the new text; a recorded channel keeps the edit. */
export async function handleEdit(m: MessageUpdate, s: Services, botUserId: string): Promise<void> {
  // Workers keep their own posts, the bot's (notices, a persona's post made by the bot) as well.
  if (m.author?.id === botUserId || (m.webhook_id && (await s.isOurWebhook(m.webhook_id)))) return;
  if (m.content === undefined) return; // an embed update, not a change of words
  const users = (m.mentions ?? []).map((u) => ({ id: u.id, name: displayName(u, u.member) }));
  const guildId = m.guild_id;
  const personaRoles = guildId && m.mention_roles?.length ? await s.roles.personasOf(guildId, m.mention_roles) : new Map<string, string>();
  if (guildId && m.mention_roles?.length) await knowRoleNames(s, guildId, m.mention_roles.filter((r) => !personaRoles.has(r)));
  const roles = (m.mention_roles ?? []).map((r) => ({ id: r, name: (personaRoles.get(r) && s.personas.find((p) => p.id === personaRoles.get(r))?.name) ?? (guildId ? s.guildFacts.roleName(guildId, r) : undefined) ?? 'unknown-role' }));
  const text = readableContent(withForwarded(m.content, m.message_snapshots), users, roles);
  const changed = await s.history.edit(m.channel_id, m.id, text);
  const recording = await s.live.recording(m.channel_id);
  // (An update with the words unchanged is Discord's: a pin, a link preview, a thread started from it.)
  if (changed && recording) {
    // One event per edit, known by Discord's time of it: words edited back to what they were are an
    // edit too, and a replayed update is the same one. (Without that time, by the words, as before.)
    const editedAt = m.edited_timestamp;
    await s.outbox.put({ v: TRANSCRIPT_FORMAT_VERSION, id: eventId(recording, 'edit', m.id, editedAt ?? text), sessionId: recording, at: new Date(editedAt ?? Date.now()).toISOString(), type: 'message_edited', discordMessageId: m.id, text });
  }
}

/** Deleted messages leave what models read; a recorded channel keeps the deletion. */
export async function handleDelete(channelId: string, ids: string[], s: Services): Promise<void> {
  await s.history.remove(channelId, ids);
  const recording = await s.live.recording(channelId);
  if (!recording) return;
  const at = new Date().toISOString();
  await s.outbox.put(...ids.map((id) => ({ v: TRANSCRIPT_FORMAT_VERSION, id: eventId(recording, 'delete', id), sessionId: recording, at, type: 'message_deleted' as const, discordMessageId: id })));
}
