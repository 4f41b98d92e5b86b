// Prepares a session's events for export: people become stable pseudonyms, the words of anyone who
// opted out are withheld everywhere they appear — inside the exact requests sent to models too, found
// by who said them (the recorded `shown` map), not by their text — and Discord ids are replaced by
// hashes keyed by a salt of this export, so nothing in it leads back to a message or its author.
// Pure: returns new events, never touches its input.
import { createHash, randomBytes } from 'node:crypto';
import type { RequestBody } from '../requests.ts';
import { isRerun, questionAuthor, type EventOf, type ModelTurn, type Participant, type TranscriptEvent } from './events.ts';
import { publicAddress } from '../../personas/schema.ts';
import { asTheChannelShows } from './order.ts';
import { quoteFinder } from '../quotes.ts';
import { wholeWords } from '../whole-words.ts';
import { redactShown, type SpanDecision } from './redact-request.ts';
import type { ShownMessage } from './shown.ts';

export const WITHHELD = '[withheld: this participant opted out]';
/** What stands for the words of a person's message deleted in a recorded channel (by them or a moderator). */
export const DELETED = '[withheld: deleted in Discord]';
const FILE_WITHHELD = '[file withheld]';

export interface ExportPrivacy {
  /** User ids of people who opted out (RecordStore.optedOut()). */
  optedOut: ReadonlySet<string>;
  /** Replace every person's name and user id by a pseudonym (default true). Opted-out people always are. */
  pseudonymise?: boolean;
  /**
   * Keys the hashes that stand for Discord ids (messages, channels, guilds) in this export. Random
   * unless given: two exports cannot be joined on them, and neither leads to Discord.
   */
  salt?: string;
}

/** Texts shorter than this are only withheld where they stand as a whole line (or after `Name: `), not inside other words. */
const SHORT_TEXT = 16;
/** context.ts clips a message to this many characters before a model reads it. */
const CLIP = 4000;
/** Given names that are everyday English words too (see prepareForExport's name parts). */
const EVERYDAY_WORDS = new Set(
  'will may mark bill june april august grace hope faith joy rose art dawn sky summer autumn ray rob pat sue jack frank guy max miles chase drew hunter hunt rich ruby amber iris ivy lily violet angel bell belle bob bud buck carol cliff dale dean don earl forest glen gene heath holly jay jewel kay lane lee les lou lyn mae main major may mercy mo ned nick noble page pearl penny price rex rick rod rocky royal rusty sandy scott shane sterling stone storm taylor terry tom victor ward wolf wood young'.split(' '),
);

/** Keys of a request body whose strings are identifiers, never conversation. */
const FIXED_KEYS = new Set(['model', 'role', 'type', 'provider']);

interface Person {
  key: string;
  userId?: string;
  names: Set<string>;
  index: number;
  optedOut: boolean;
}


function personKey(p: { userId?: string; name: string }): string {
  return p.userId ?? `name:${p.name}`;
}

/** Every human in order of first appearance. */
function collectPeople(events: readonly TranscriptEvent[], optedOut: ReadonlySet<string>): Map<string, Person> {
  const people = new Map<string, Person>();
  const see = (p: { userId?: string; name: string }) => {
    const key = personKey(p);
    let person = people.get(key);
    if (!person) {
      person = { key, userId: p.userId, names: new Set(), index: people.size + 1, optedOut: p.userId !== undefined && optedOut.has(p.userId) };
      people.set(key, person);
    }
    if (p.name.trim()) person.names.add(p.name);
  };
  const seeParticipant = (p: Participant | undefined) => {
    if (p?.kind === 'human') see(p);
  };
  for (const e of events) {
    if (e.type === 'session_started' && e.interviewer?.kind === 'human') see(e.interviewer);
    else if (e.type === 'question') seeParticipant(e.askedBy);
    else if (e.type === 'channel_message') seeParticipant(e.author);
    else if (e.type === 'session_paused' || e.type === 'session_resumed') seeParticipant(e.by);
  }
  // People the models read but who never spoke in the session itself (channel history from before
  // a recording began): pseudonymised and withheld like everyone else.
  for (const e of events) {
    for (const m of modelTurnOf(e)?.shown ?? []) if (m.author === 'human') see({ userId: m.authorId, name: m.authorName });
  }
  return people;
}

function textAt(body: unknown, path: string): string {
  const v = path
    .split('/')
    .slice(1)
    .reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), body);
  return typeof v === 'string' ? v : '';
}

function modelTurnOf(e: TranscriptEvent): ModelTurn | undefined {
  return e.type === 'answer' || e.type === 'question' || e.type === 'channel_message' ? e.modelTurn : undefined;
}

/** A run of this many words of a withheld text, found anywhere, is a quote of it. */

export const pseudonym = (index: number) => `Participant ${index}`;
export const pseudonymId = (index: number) => `participant-${index}`;

/**
 * Returns new events ready for any exporter:
 * - with `pseudonymise` (the default), every human (channel authors, question askers, a human
 *   interviewer, whoever paused or resumed) becomes "Participant N" / "participant-N", numbered by
 *   first appearance in the session; their names and `<@id>` mentions in any text become the pseudonym;
 * - an opted-out person is always pseudonymised, and their words — their messages, questions, and
 *   edits of their messages — become WITHHELD wherever they appear: in their own events, in answers
 *   that quote them, and in the request bodies of later model turns (`Name: text` and bare forms,
 *   any request shape); their attachments are dropped, and image parts whose URL names one of
 *   their files are removed from requests.
 * - a part of a withheld text quoted alone is withheld too (quoteFinder: six words in a row, or a
 *   token that identifies).
 * Names are matched whole and by their parts ("Bob" for "Bob Marley"), as written or in capitals; a
 * part that is an everyday word ("May") only for someone who opted out.
 * Persona names are never changed. A human whose display name equals a persona's keeps it in free text.
 * Limits: a withheld text shorter than SHORT_TEXT characters is replaced only where it stands as a
 * whole line or after `Name: `, so that a "yes" of theirs does not erase every "yes" of others;
 * text a model paraphrased rather than quoted cannot be found.
 */
export function prepareForExport(events: readonly TranscriptEvent[], privacy: ExportPrivacy): TranscriptEvent[] {
  const pseudonymise = privacy.pseudonymise ?? true;
  const salt = privacy.salt ?? randomBytes(16).toString('hex');
  const hashId = (id: string) => `h-${createHash('sha256').update(`${salt}\u0000${id}`).digest('hex').slice(0, 20)}`;
  /** Session ids made before 0.2 embed a Discord id (`i-<thread>`): that part is hashed too. */
  const hashInside = (id: string) => id.replace(/\d{17,20}/g, (d) => hashId(d));
  const people = collectPeople(events, privacy.optedOut);
  const renamed = (p: Person) => pseudonymise || p.optedOut;
  const personaNames = new Set<string>();
  for (const e of events) {
    if (e.type === 'session_started') for (const r of e.roster) personaNames.add(r.name);
    if (e.type === 'answer') personaNames.add(e.persona.name);
    if ((e.type === 'question' || e.type === 'channel_message') && (e.type === 'question' ? e.askedBy : e.author).kind === 'persona') {
      const p = e.type === 'question' ? e.askedBy : e.author;
      if (p.kind === 'persona') personaNames.add(p.name);
    }
  }

  // What an opted-out person wrote, and the messages that are theirs.
  const withheldTexts = new Set<string>();
  const withheldFiles = new Set<string>();
  const theirMessageIds = new Set<string>();
  const isOptedOut = (p: Participant | undefined) => p?.kind === 'human' && people.get(personKey(p))?.optedOut === true;
  const rerun = isRerun(events);
  const theirQuestion = (q: EventOf<'question'>) => isOptedOut(questionAuthor(q, rerun));
  for (const e of events) {
    if (e.type === 'question' && theirQuestion(e)) {
      withheldTexts.add(e.text);
      if (e.discordMessageId) theirMessageIds.add(e.discordMessageId);
    }
    if (e.type === 'channel_message' && isOptedOut(e.author)) {
      withheldTexts.add(e.text);
      theirMessageIds.add(e.discordMessageId);
      for (const a of e.attachments ?? []) withheldFiles.add(a.name);
    }
  }
  for (const e of events) if (e.type === 'message_edited' && theirMessageIds.has(e.discordMessageId)) withheldTexts.add(e.text);
  // What people deleted in a recorded channel: their words go as an opted-out person's do, that
  // message only (a persona's post a moderator deleted stays: it was no one's to take back).
  const deletedIds = new Set(events.flatMap((e) => (e.type === 'message_deleted' ? [e.discordMessageId] : [])));
  const deletedMessageIds = new Set<string>();
  for (const e of events)
    if (e.type === 'channel_message' && e.author.kind === 'human' && deletedIds.has(e.discordMessageId) && !isOptedOut(e.author)) deletedMessageIds.add(e.discordMessageId);
  const deletedTexts = new Set<string>();
  for (const e of events) {
    if (e.type === 'channel_message' && deletedMessageIds.has(e.discordMessageId)) deletedTexts.add(e.text);
    if (e.type === 'message_edited' && deletedMessageIds.has(e.discordMessageId)) deletedTexts.add(e.text);
  }
  // Their words that models read from before the session (history): taken from the request where
  // the map puts them, so a model quoting them elsewhere is caught too.
  for (const e of events) {
    const turn = modelTurnOf(e);
    for (const m of turn?.shown ?? []) {
      if (m.author !== 'human' || !people.get(m.authorId)?.optedOut) continue;
      for (const span of m.spans) if (span.part === 'text') withheldTexts.add(textAt(turn!.request.body, span.path).slice(span.start, span.end));
    }
  }
  const variantsOf = (texts: Set<string>) =>
    [...texts]
      .filter((t) => t.trim())
      .flatMap((t) => (t.length > CLIP ? [t, t.slice(0, CLIP)] : [t]))
      .sort((a, b) => b.length - a.length);
  const variants = variantsOf(withheldTexts);
  const deletedVariants = variantsOf(deletedTexts);

  const optedOutPeople = [...people.values()].filter((p) => p.optedOut);
  // Tokens others use too (a persona's name, a model id, a word someone else wrote or asked) say
  // nothing of who wrote them: not withheld as theirs.
  const othersWords = [...personaNames];
  for (const e of events) {
    if (e.type === 'session_started') othersWords.push(...e.roster.flatMap((r) => [r.personaId, ...r.hosts.map((h) => h.model)]), e.protocol?.text ?? '');
    if (e.type === 'question' && !theirQuestion(e)) othersWords.push(e.text);
    if (e.type === 'channel_message' && !isOptedOut(e.author) && e.author.kind === 'human' && !deletedMessageIds.has(e.discordMessageId)) othersWords.push(e.text);
  }
  const quoted = quoteFinder(variants, othersWords, WITHHELD);
  const quotedDeleted = quoteFinder(deletedVariants, othersWords, DELETED);
  const nameToPseudonym = new Map<string, string>();
  // A name as written, and shouted ("WILL"): a model may write either.
  const setName = (n: string, p: Person) => {
    for (const form of new Set([n, n.toUpperCase()])) if (!personaNames.has(form) && !nameToPseudonym.has(form)) nameToPseudonym.set(form, pseudonym(p.index));
  };
  for (const p of people.values()) {
    if (!renamed(p)) continue;
    for (const n of p.names) if (!personaNames.has(n)) setName(n, p);
  }
  // Models address people by a part of their name ("Thank you, Bob"): each part of two letters
  // or more stands for the person too, unless it is a whole name or a persona's name. A part that is
  // also an everyday word ("Will", "May") stands for the person only if they opted out: otherwise
  // every "Will you…?" in the session would become "Participant 1 you…?".
  for (const p of people.values()) {
    if (!renamed(p)) continue;
    for (const n of p.names)
      for (const part of n.split(/[\s._-]+/u))
        if (part.length >= 2 && part !== n && !personaNames.has(part) && (p.optedOut || !EVERYDAY_WORDS.has(part.toLowerCase()))) setName(part, p);
  }
  const names = [...nameToPseudonym.keys()].sort((a, b) => b.length - a.length);
  const nameRe = wholeWords(names.map((n) => RegExp.escape(n)), 'gu');
  const mentionIds = new Map<string, string>();
  for (const p of people.values()) if (renamed(p) && p.userId) mentionIds.set(p.userId, pseudonym(p.index));

  const scrub = (s: string): string => {
    let out = s;
    // `Name: text` first, so the speaker label goes with the words.
    for (const p of optedOutPeople)
      for (const n of p.names) for (const t of variants) out = out.split(`${n}: ${t}`).join(`${pseudonym(p.index)}: ${WITHHELD}`);
    for (const [texts, replacement] of [[variants, WITHHELD], [deletedVariants, DELETED]] as const) {
      for (const t of texts) {
        if (t.length >= SHORT_TEXT) out = out.split(t).join(replacement);
        else out = out.replace(new RegExp(`(?<=^|\\n|: )${RegExp.escape(t)}(?=\\n|$)`, 'g'), replacement);
      }
    }
    out = quotedDeleted(quoted(out));
    for (const f of withheldFiles) out = out.split(`[image: ${f}]`).join(FILE_WITHHELD).split(`[file: ${f}]`).join(FILE_WITHHELD);
    if (nameRe) out = out.replace(nameRe, (n) => nameToPseudonym.get(n) ?? n);
    if (mentionIds.size) out = out.replace(/<@!?(\d+)>/g, (m, id: string) => (mentionIds.has(id) ? `@${mentionIds.get(id)}` : m));
    return out;
  };

  const isWithheldImage = (v: unknown): boolean => {
    if (!withheldFiles.size || typeof v !== 'object' || v === null) return false;
    const o = v as { type?: unknown; source?: { url?: unknown }; image_url?: { url?: unknown } };
    const url = o.type === 'image' ? o.source?.url : o.type === 'image_url' ? o.image_url?.url : undefined;
    if (typeof url !== 'string') return false;
    const path = url.split('?')[0] ?? '';
    return [...withheldFiles].some((f) => path.endsWith(`/${f}`) || path.endsWith(`/${encodeURIComponent(f)}`));
  };
  /**
   * An image link in a recorded request as exports show it: a Discord attachment link's ids (its
   * channel's, its own) hashed like every Discord id, and its signature, which would let anyone fetch
   * the file for a day, left off. Other links stay as they were.
   */
  const hideLink = (url: string): string => {
    const [path = '', query = ''] = url.split('?');
    return /(^|&)hm=/.test(query) || /^https:\/\/(cdn|media)\.discordapp\.(com|net)\//.test(path) ? hashInside(path) : url;
  };
  // `byName`: an image is withheld by its file name only where no `shown` map says whose it is (records
  // before 0.2): Discord names every pasted image image.png, so by name an opted-out person's took
  // everyone else's with it.
  const scrubJson = (v: unknown, key?: string, byName = true): unknown => {
    if (typeof v === 'string') return key === 'url' ? hideLink(v) : key !== undefined && FIXED_KEYS.has(key) ? v : scrub(v);
    if (Array.isArray(v)) return v.filter((x) => !(byName && isWithheldImage(x))).map((x) => scrubJson(x, undefined, byName));
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrubJson(x, k, byName)]));
    return v;
  };
  // A recorded request: first each person's words and name where the `shown` map puts them, then
  // the text rules (names mentioned in others' words, quotes), for what no map covers.
  const scrubTurn = (t: ModelTurn): ModelTurn => {
    const { shown, ...rest } = t;
    const body = shown
      ? redactShown(t.request.body, shown, (m): SpanDecision => {
          if (m.author !== 'human') return {};
          const person = people.get(m.authorId);
          if (!person) return {};
          if (person.optedOut) return { text: WITHHELD, name: pseudonym(person.index), dropImages: true };
          const name = renamed(person) ? { name: pseudonym(person.index) } : {};
          return deletedMessageIds.has(m.messageId) ? { ...name, text: DELETED, dropImages: true } : name;
        })
      : t.request.body;
    const request = scrubJson({ ...t.request, body }, undefined, !shown) as RequestBody;
    return {
      ...rest,
      // (Records made before chorus kept only a host's public address may hold credentials in it.)
      host: { ...rest.host, ...(rest.host.baseUrl ? { baseUrl: publicAddress(rest.host.baseUrl) } : {}) },
      request,
      // The model's reasoning reads like its answer, and may quote what it was shown: the same text rules.
      ...(t.reasoning === undefined ? {} : { reasoning: scrub(t.reasoning) }),
      ...(t.stoppedText === undefined ? {} : { stoppedText: scrub(t.stoppedText) }),
      fallbacks: t.fallbacks.map((f) => ({ ...f })),
      ...(t.earlierTries ? { earlierTries: t.earlierTries.map((tr) => ({ ...tr, attempts: tr.attempts.map((f) => ({ ...f })) })) } : {}),
      // Who the model read, by pseudonym and hashed message: the offsets stay behind (they point
      // into the unredacted request).
      ...(shown ? { shown: shown.map((m) => ({ ...shownAuthor(m), messageId: hashId(m.messageId), spans: [], images: [] })) } : {}),
    };
  };
  const shownAuthor = (m: ShownMessage): Pick<ShownMessage, 'author' | 'authorId' | 'authorName'> => {
    const person = m.author === 'human' ? people.get(m.authorId) : undefined;
    return person && renamed(person) ? { author: 'human', authorId: pseudonymId(person.index), authorName: pseudonym(person.index) } : { author: m.author, authorId: m.authorId, authorName: m.authorName };
  };

  const participant = <P extends Participant | undefined>(p: P): P => {
    if (!p || p.kind !== 'human') return p ? ({ ...p } as P) : p;
    const person = people.get(personKey(p))!;
    if (!renamed(person)) return { ...p } as P;
    return { kind: 'human', userId: pseudonymId(person.index), name: pseudonym(person.index) } as P;
  };

  // In the channel's order, for a recorded channel (see order.ts).
  return asTheChannelShows(events).map((e) => hideDiscordIds(redactOne(e), hashId, hashInside));

  function redactOne(e: TranscriptEvent): TranscriptEvent {
    switch (e.type) {
      case 'session_started': {
        const out = structuredClone(e);
        if (e.interviewer?.kind === 'human') {
          const person = people.get(personKey(e.interviewer))!;
          if (renamed(person))
            out.interviewer = { kind: 'human', ...(e.interviewer.userId === undefined ? {} : { userId: pseudonymId(person.index) }), name: pseudonym(person.index) };
        }
        return out;
      }
      case 'disclosure':
        return { ...e, text: scrub(e.text) };
      case 'question':
        return {
          ...structuredClone(e),
          askedBy: participant(e.askedBy),
          text: theirQuestion(e) ? WITHHELD : scrub(e.text),
          ...(e.modelTurn ? { modelTurn: scrubTurn(e.modelTurn) } : {}),
        };
      case 'answer':
        return { ...structuredClone(e), text: scrub(e.text), modelTurn: scrubTurn(e.modelTurn) };
      case 'notice':
        return { ...structuredClone(e), text: scrub(e.text) };
      case 'error':
        return { ...structuredClone(e), message: scrub(e.message) };
      case 'session_paused':
      case 'session_resumed':
        return e.by ? { ...e, by: participant(e.by) } : { ...e };
      case 'channel_message': {
        const { attachments, ...rest } = structuredClone(e);
        const turn = e.modelTurn ? { modelTurn: scrubTurn(e.modelTurn) } : {};
        if (isOptedOut(e.author)) return { ...rest, ...turn, author: participant(e.author), text: WITHHELD };
        if (deletedMessageIds.has(e.discordMessageId)) return { ...rest, ...turn, author: participant(e.author), text: DELETED };
        return { ...rest, ...turn, author: participant(e.author), text: scrub(e.text), ...(attachments ? { attachments } : {}) };
      }
      case 'message_edited':
        return { ...e, text: theirMessageIds.has(e.discordMessageId) ? WITHHELD : deletedMessageIds.has(e.discordMessageId) ? DELETED : scrub(e.text) };
      // Consent, withdrawals and judges' calls: a judge reads the question, which a person may have asked.
      case 'consent': {
        const out = { ...structuredClone(e), text: scrub(e.text), modelTurn: scrubTurn(e.modelTurn) };
        if (e.classifiedBy.kind === 'judge') out.classifiedBy = { ...e.classifiedBy, rationale: scrub(e.classifiedBy.rationale), modelTurn: scrubTurn(e.classifiedBy.modelTurn) };
        return out;
      }
      case 'withdrawal':
        return { ...e, ...(e.text === undefined ? {} : { text: scrub(e.text) }) };
      case 'judgement':
        return { ...structuredClone(e), scores: e.scores.map((x) => ({ ...x, rationale: scrub(x.rationale) })), modelTurn: scrubTurn(e.modelTurn) };
      case 'coverage':
        return e.decidedBy.kind === 'judge' ? { ...structuredClone(e), decidedBy: { ...e.decidedBy, modelTurn: scrubTurn(e.decidedBy.modelTurn) } } : structuredClone(e);
      default:
        return structuredClone(e);
    }
  }
}

/** Every Discord id an event carries, replaced by its hash (the same id, the same hash, within one export). */
function hideDiscordIds(e: TranscriptEvent, hash: (id: string) => string, hashInside: (id: string) => string): TranscriptEvent {
  const out = { ...e, sessionId: hashInside(e.sessionId) } as TranscriptEvent & Record<string, unknown>;
  if ('discordMessageId' in out && typeof out.discordMessageId === 'string') out.discordMessageId = hash(out.discordMessageId);
  if ('replyToId' in out && typeof out.replyToId === 'string') out.replyToId = hash(out.replyToId);
  if (out.type === 'channel_message' && out.trigger) out.trigger = { ...out.trigger, discordMessageId: hash(out.trigger.discordMessageId) };
  if (out.type === 'answer' || out.type === 'consent') out.discordMessageIds = out.discordMessageIds.map(hash);
  if (out.type === 'session_started') {
    if (out.discord) {
      out.discord = {
        channelId: hash(out.discord.channelId),
        ...(out.discord.guildId ? { guildId: hash(out.discord.guildId) } : {}),
        ...(out.discord.threadId ? { threadId: hash(out.discord.threadId) } : {}),
      };
    }
    if (out.rerunOf) out.rerunOf = { ...out.rerunOf, sessionId: hashInside(out.rerunOf.sessionId) };
  }
  return out;
}
