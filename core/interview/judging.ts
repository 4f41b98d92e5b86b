// Judges: what a judge persona reads about one answer (blind to who gave it, where the protocol
// says so), how its scores are read, and which answers still wait for a judgement. Pure.
import type { Persona } from '../../personas/schema.ts';
import type { Protocol } from '../../protocols/schema.ts';
import { buildContext, type BuiltContext } from '../context.ts';
import type { ChannelMessage } from '../messages.ts';
import type { EventOf, TranscriptEvent } from '../transcript/events.ts';
import { wholeWords } from '../whole-words.ts';

export type Judging = NonNullable<Protocol['judging']>;
export type Dimension = Judging['dimensions'][number];
export type Score = EventOf<'judgement'>['scores'][number];

export interface JudgeTask {
  answerId: string;
  judgeId: string;
}

/** Answers that are judged: every answer but the one in which a persona withdrew. */
export function judgeableAnswers(events: readonly TranscriptEvent[]): EventOf<'answer'>[] {
  const withdrawing = new Set(events.flatMap((e) => (e.type === 'withdrawal' && e.answerId ? [e.answerId] : [])));
  return events.filter((e): e is EventOf<'answer'> => e.type === 'answer' && !withdrawing.has(e.id));
}

/** Each (answer, judge) with neither a judgement nor a recorded failure to judge. */
export function judgingMissing(events: readonly TranscriptEvent[], judges: readonly string[]): JudgeTask[] {
  const done = new Set<string>();
  for (const e of events) {
    if (e.type === 'judgement') done.add(`${e.answerId}\u0000${e.judge.personaId}`);
    if (e.type === 'error' && e.during === 'judging' && e.answerId && e.persona) done.add(`${e.answerId}\u0000${e.persona.personaId}`);
  }
  return judgeableAnswers(events).flatMap((a) => judges.filter((j) => !done.has(`${a.id}\u0000${j}`)).map((judgeId) => ({ answerId: a.id, judgeId })));
}

/** What names a persona: its name and the parts of it, id, aliases, and the models its hosts serve. */
export interface Identity {
  personaId: string;
  name: string;
  aliases?: readonly string[];
  models: readonly string[];
}

/** Makers and model families: naming one tells a judge much of who answered. */
const FAMILIES = ['Anthropic', 'OpenAI', 'Google', 'DeepMind', 'Meta', 'Mistral', 'xAI', 'Claude', 'ChatGPT', 'GPT', 'Gemini', 'Gemma', 'Llama', 'Grok', 'Davinci', 'Qwen', 'DeepSeek'];

function termsOf(who: Identity): string[] {
  const models = who.models.flatMap((m) => [m, m.split('/').at(-1) ?? m]);
  const parts = who.name.split(/[\s_]+/).filter((p) => /^[\p{L}][\p{L}\p{N}.-]{2,}$/u.test(p));
  return [who.name, who.personaId, ...(who.aliases ?? []), ...models, ...parts].filter((t) => t.trim().length >= 2);
}

/**
 * The text with every name of the answering persona replaced by "[respondent]", and every other
 * persona's, model's, maker's or model family's name by "[masked]" — whole words, any case, longest
 * first. Blind judging rests on this: a judge must not learn who answered from the texts it reads.
 */
export function maskIdentities(text: string, answering: Identity, others: readonly Identity[]): string {
  const replace = new Map<string, string>();
  for (const o of others) for (const t of termsOf(o)) replace.set(t.toLowerCase(), '[masked]');
  for (const f of FAMILIES) replace.set(f.toLowerCase(), '[masked]');
  for (const t of termsOf(answering)) replace.set(t.toLowerCase(), '[respondent]');
  const terms = [...replace.keys()].sort((a, b) => b.length - a.length);
  const re = wholeWords(terms.map((t) => RegExp.escape(t)), 'giu');
  return re ? text.replace(re, (m) => replace.get(m.toLowerCase()) ?? m) : text;
}

export interface JudgedAnswer {
  purpose: string;
  question: string;
  answer: string;
  answering: Identity;
  /** The other personas of the session (and the interviewer), masked too. */
  others: readonly Identity[];
}

export const JUDGE_INSTRUCTIONS = [
  'You are judging one answer from a research interview with a language model.',
  'Score the answer on each dimension below, using its rubric and scale.',
  'Reply with one JSON object and nothing else, in this form:',
  '{"scores": [{"dimension": "<name>", "score": <number on the scale>, "rationale": "<one or two sentences>"}]}',
  'If a dimension cannot be judged from the answer, give "score": null and say why.',
].join('\n');

/** The judge's request: instructions, the rubric, the question and the answer — masked when blind. */
export function judgeContext(judge: Persona, judging: Judging, a: JudgedAnswer, maxTokens: number): BuiltContext {
  const mask = (s: string) => (judging.blind ? maskIdentities(s, a.answering, a.others) : s);
  const by = judging.blind ? 'The answer:' : `The answer, by ${a.answering.name} (${a.answering.models.join(', ')}):`;
  const dimensions = judging.dimensions.map((d) => `- ${d.name} (${d.scale.min} to ${d.scale.max}): ${d.rubric.trim()}`).join('\n');
  const content = [`Purpose of the interview: ${mask(a.purpose.trim())}`, `Dimensions:\n${dimensions}`, `The question:\n${mask(a.question)}`, `${by}\n${mask(a.answer)}`].join('\n\n');
  const trigger: ChannelMessage = { id: '1000000', authorId: 'system', authorName: 'Researcher', content, isBot: true, createdAt: '' };
  return buildContext({ ...judge, systemPrompt: JUDGE_INSTRUCTIONS, contextMode: 'chat' }, [], trigger, { maxMessages: 1, maxTokens });
}

type Raw = { score?: unknown; value?: unknown; rationale?: unknown; reason?: unknown };

/** The judge's reply as {dimension → raw score and rationale}: its JSON, or `name: 4 — why` lines. */
function rawScores(reply: string): Map<string, Raw> {
  const out = new Map<string, Raw>();
  const start = reply.indexOf('{');
  const end = reply.lastIndexOf('}');
  if (start >= 0 && end > start) {
    try {
      const parsed = JSON.parse(reply.slice(start, end + 1)) as { scores?: unknown };
      const list = parsed.scores ?? parsed;
      if (Array.isArray(list)) {
        for (const s of list as (Raw & { dimension?: unknown; name?: unknown })[]) {
          const name = s?.dimension ?? s?.name;
          if (typeof name === 'string') out.set(name.trim().toLowerCase(), s);
        }
      } else if (list && typeof list === 'object') {
        for (const [k, v] of Object.entries(list as Record<string, unknown>)) out.set(k.trim().toLowerCase(), typeof v === 'object' && v !== null ? (v as Raw) : { score: v });
      }
      if (out.size) return out;
    } catch {
      // not JSON: try lines
    }
  }
  for (const line of reply.split('\n')) {
    const m = /^\s*[-*]?\s*\**([a-z0-9][a-z0-9 _-]*?)\**\s*[:=]\s*([^\s/—–-]+)(?:\s*\/\s*\d+)?\s*(?:[—–-]+\s*(.*))?$/i.exec(line);
    if (m) out.set(m[1]!.trim().toLowerCase(), { score: m[2], rationale: m[3] ?? '' });
  }
  return out;
}

/**
 * One score per declared dimension. A score that is missing, not a number, or off the scale is null,
 * with the reason in its rationale: never guessed, never clamped.
 */
export function parseScores(reply: string, dimensions: readonly Dimension[]): Score[] {
  const raw = rawScores(reply);
  return dimensions.map((d) => {
    const r = raw.get(d.name.toLowerCase());
    const given = r?.score ?? r?.value;
    const rationale = typeof r?.rationale === 'string' ? r.rationale.trim() : typeof r?.reason === 'string' ? r.reason.trim() : '';
    const base = { dimension: d.name, min: d.scale.min, max: d.scale.max };
    if (!r) return { ...base, value: null, rationale: 'no score for this dimension in the judge’s reply' };
    const value = typeof given === 'number' ? given : typeof given === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(given) ? Number(given) : NaN;
    if (given === null || given === undefined) return { ...base, value: null, rationale: rationale || 'the judge gave no score' };
    if (!Number.isFinite(value)) return { ...base, value: null, rationale: `unreadable score ${JSON.stringify(given)}${rationale ? `; ${rationale}` : ''}` };
    if (value < d.scale.min || value > d.scale.max) return { ...base, value: null, rationale: `score ${value} is off the scale ${d.scale.min}–${d.scale.max}${rationale ? `; ${rationale}` : ''}` };
    return { ...base, value, rationale };
  });
}
