// The research parts of a Markdown transcript: each persona's consent, the topics reached, and the
// judges' scores with their reasons. Pure; part of export-markdown.ts.
import type { Usage } from '../hosts/clients.ts';
import type { EventOf, ModelTurn, TranscriptEvent } from './events.ts';
import { modelName } from './export-jsonl.ts';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const quote = (s: string) => s.split('\n').map((l) => (l ? `> ${l}` : '>')).join('\n');
const model = (t: ModelTurn) => `\`${modelName(t.host.provider, t.answeredModel)}\``;

const DECISION = { agrees: 'agrees', declines: 'declines', conditions: 'agrees, on conditions' } as const;

/** The overview once, then each persona's answer, how it was classified, and who could not be asked. */
export function consentSection(events: readonly TranscriptEvent[]): string[] {
  const consents = events.filter((e): e is EventOf<'consent'> => e.type === 'consent');
  const unasked = events.filter((e): e is EventOf<'error'> => e.type === 'error' && e.during === 'consent');
  if (!consents.length && !unasked.length) return [];
  const out = ['## Consent', ''];
  const overview = consents[0]?.overview;
  if (overview) out.push('Each persona was asked, on its own, before the first question:', '', quote(overview), '');
  out.push('| Persona | Decision | Conditions | Classified by |', '|---|---|---|---|');
  for (const c of consents) {
    const by = c.classifiedBy.kind === 'rule' ? `rule: ${c.classifiedBy.rule}` : `judge ${c.classifiedBy.judge.name}: ${c.classifiedBy.rationale || '(no reason given)'}`;
    out.push(`| ${cell(c.persona.name)} | ${DECISION[c.decision]} | ${cell(c.conditions ?? '—')} | ${cell(by)} |`);
  }
  for (const e of unasked) out.push(`| ${cell(e.persona?.name ?? '?')} | not asked | — | ${cell(e.message)} |`);
  out.push('');
  for (const c of consents) out.push(`**${c.persona.name}** · ${model(c.modelTurn)} — ${DECISION[c.decision]}`, '', quote(c.text || '(no answer)'), '');
  return out;
}

/** Each listed topic: reached (by which questions) or not reached. Never a score. */
export function coverageSection(events: readonly TranscriptEvent[]): string[] {
  const coverage = events.findLast((e): e is EventOf<'coverage'> => e.type === 'coverage');
  if (!coverage) return [];
  const number = new Map(events.flatMap((e) => (e.type === 'question' ? [[e.id, e.index] as const] : [])));
  const by = coverage.decidedBy.kind === 'rule' ? `rule: ${coverage.decidedBy.rule}` : `judge ${coverage.decidedBy.judge.name}`;
  return [
    '## Topic coverage',
    '',
    `*Decided by ${by}. A topic not reached is recorded as not reached: it is not a low score.*`,
    '',
    '| Topic | Reached | Questions |',
    '|---|---|---|',
    ...coverage.topics.map((t) => `| ${cell(t.topic)} | ${t.reached ? 'reached' : 'not reached'} | ${t.questionIds.map((id) => number.get(id) ?? '?').join(', ') || '—'} |`),
    '',
  ];
}

/** Every judgement: one row per answer and judge, a score per dimension, then the judges' reasons. */
export function judgementSection(events: readonly TranscriptEvent[]): string[] {
  const judgements = events.filter((e): e is EventOf<'judgement'> => e.type === 'judgement');
  const failed = events.filter((e): e is EventOf<'error'> => e.type === 'error' && e.during === 'judging');
  if (!judgements.length && !failed.length) return [];
  const number = new Map(events.flatMap((e) => (e.type === 'question' ? [[e.id, e.index] as const] : [])));
  const questionOf = new Map(events.flatMap((e) => (e.type === 'answer' ? [[e.id, e.questionId] as const] : [])));
  const dimensions = [...new Set(judgements.flatMap((j) => j.scores.map((s) => s.dimension)))];
  const out = ['## Judgements', ''];
  const blind = judgements.some((j) => j.blind);
  out.push(blind ? '*Judged blind: the judges were not told which persona or model answered.*' : '*The judges were told which persona and model answered.*', '');
  out.push(`| Question | Persona | Judge | ${dimensions.map(cell).join(' | ')} |`, `|---|---|---|${dimensions.map(() => '---:').join('|')}|`);
  for (const j of judgements) {
    const q = number.get(j.questionId ?? questionOf.get(j.answerId) ?? '') ?? '?';
    const scores = dimensions.map((d) => {
      const s = j.scores.find((x) => x.dimension === d);
      return s ? (s.value === null ? 'unscored' : `${s.value} (${s.min}–${s.max})`) : '—';
    });
    out.push(`| ${q} | ${cell(j.persona.name)} | ${cell(j.judge.name)} | ${scores.join(' | ')} |`);
  }
  out.push('');
  for (const j of judgements) {
    const q = number.get(j.questionId ?? questionOf.get(j.answerId) ?? '') ?? '?';
    out.push(`**${j.judge.name} on ${j.persona.name}, question ${q}** · ${model(j.modelTurn)}`, '');
    for (const s of j.scores) out.push(`- ${s.dimension}: ${s.value === null ? 'unscored' : s.value} — ${s.rationale || '(no reason given)'}`);
    out.push('');
  }
  for (const e of failed) out.push(`*${e.persona?.name ?? 'A judge'} could not judge an answer: ${e.message}*`, '');
  return out;
}

/** Tokens the judges used, recorded after the session's end (so not in its end event). */
export function judgeUsage(events: readonly TranscriptEvent[]): Record<string, Usage> {
  const usage: Record<string, Usage> = {};
  for (const e of events) {
    if (e.type !== 'judgement' || !e.modelTurn.usage) continue;
    const u = (usage[e.judge.personaId] ??= { inputTokens: 0, outputTokens: 0 });
    u.inputTokens += e.modelTurn.usage.inputTokens;
    u.outputTokens += e.modelTurn.usage.outputTokens;
  }
  return usage;
}
