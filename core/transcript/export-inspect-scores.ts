// Judge scores as Inspect scores: each usable score a judge gave an answer becomes one `Score` of
// the sample (keyed dimension/persona: a sample holds several personas' answers), and the eval's
// `results` gets one `EvalScore` per key with Inspect's `mean` and `stderr` metrics. A score the
// judge could not give (null) is counted as unscored, as Inspect counts its NaN sentinel; it never
// becomes a number. Shapes from inspect_ai/scorer/_metric.py (Score), log/_log.py (EvalScore,
// EvalMetric) and _eval/task/results.py (how metrics are named and counted). Pure.
import type { EventOf, TranscriptEvent } from './events.ts';
import { turnModel } from './export-inspect-model.ts';

type Judgement = EventOf<'judgement'>;
type Answer = EventOf<'answer'>;

export interface Score {
  value: number;
  answer?: string;
  explanation?: string;
  metadata?: Record<string, unknown>;
  history: unknown[];
}

export interface EvalMetric {
  name: string;
  value: number;
  params: Record<string, unknown>;
}

export interface EvalScore {
  name: string;
  scorer: string;
  params: Record<string, unknown>;
  metrics: Record<string, EvalMetric>;
  scored_samples: number;
  unscored_samples: number;
  metadata?: Record<string, unknown>;
}

/** One judge's scores of one answer: the Scores it gives the sample, and what it could not score. */
export interface JudgedAnswer {
  judgement: Judgement;
  answer: Answer;
  scores: { key: string; score: Score }[];
  unscored: { key: string; dimension: string; rationale: string }[];
}

/** Score keys name the judge too when a session has more than one, so no key is given twice. */
function keyFor(j: Judgement, dimension: string, severalJudges: boolean): string {
  return `${dimension}/${j.persona.personaId}${severalJudges ? `@${j.judge.personaId}` : ''}`;
}

/** A score a judge could not give is null; one that is not a finite number is no score either. */
const usable = (v: number | null): v is number => typeof v === 'number' && Number.isFinite(v);

/** Every judgement of an answer in `answers`, latest last, with its scores. */
export function judgedAnswers(events: readonly TranscriptEvent[], answers: readonly Answer[]): JudgedAnswer[] {
  const all = events.filter((e): e is Judgement => e.type === 'judgement');
  const severalJudges = new Set(all.map((j) => j.judge.personaId)).size > 1;
  const byId = new Map(answers.map((a) => [a.id, a]));
  return all.flatMap((j) => {
    const answer = byId.get(j.answerId);
    if (!answer) return [];
    const base = {
      persona: j.persona.name,
      personaId: j.persona.personaId,
      model: turnModel(answer.modelTurn),
      judge: j.judge.name,
      judgeId: j.judge.personaId,
      blind: j.blind,
      answerId: j.answerId,
      judgementId: j.id,
    };
    return [
      {
        judgement: j,
        answer,
        scores: j.scores.flatMap((s) =>
          !usable(s.value)
            ? []
            : [
                {
                  key: keyFor(j, s.dimension, severalJudges),
                  score: { value: s.value as number, answer: answer.text, explanation: s.rationale, metadata: { ...base, dimension: s.dimension, min: s.min, max: s.max }, history: [] },
                },
              ],
        ),
        unscored: j.scores.flatMap((s) => (!usable(s.value) ? [{ key: keyFor(j, s.dimension, severalJudges), dimension: s.dimension, rationale: s.rationale }] : [])),
      },
    ];
  });
}

/** A sample's `scores`: a later judgement of the same key replaces an earlier one. */
export function sampleScores(judged: readonly JudgedAnswer[]): Record<string, Score> {
  const scores: Record<string, Score> = {};
  for (const j of judged) {
    for (const k of j.unscored) delete scores[k.key];
    for (const s of j.scores) scores[s.key] = s.score;
  }
  return scores;
}

const round = (x: number) => Math.round(x * 1e12) / 1e12;

/** Inspect's `mean` and `stderr` (sample standard deviation, ddof 1, over √n; 0 below two values). */
export function meanAndStderr(values: readonly number[]): { mean: number; stderr: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean: round(mean), stderr: 0 };
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean: round(mean), stderr: round(Math.sqrt(variance) / Math.sqrt(n)) };
}

/**
 * `results.scores`: per key, the metrics over the samples that have that score, in the order keys
 * first appear. A key no sample could score has no metrics (Inspect would write NaN, which JSON
 * cannot carry) and counts its samples as unscored.
 */
export function evalScores(samples: readonly { scores?: Record<string, Score>; unscoredKeys: readonly string[] }[]): EvalScore[] {
  const keys: string[] = [];
  const values = new Map<string, number[]>();
  const unscored = new Map<string, number>();
  const meta = new Map<string, Record<string, unknown>>();
  const see = (k: string) => {
    if (!values.has(k)) {
      keys.push(k);
      values.set(k, []);
      unscored.set(k, 0);
    }
  };
  for (const s of samples) {
    const scores = s.scores ?? {};
    for (const [k, score] of Object.entries(scores)) {
      see(k);
      values.get(k)!.push(score.value);
      const m = score.metadata ?? {};
      meta.set(k, { dimension: m.dimension, persona: m.persona, personaId: m.personaId, judge: m.judge, min: m.min, max: m.max });
    }
    for (const k of new Set(s.unscoredKeys)) {
      if (k in scores) continue;
      see(k);
      unscored.set(k, unscored.get(k)! + 1);
    }
  }
  return keys.map((k) => {
    const v = values.get(k)!;
    const metrics: Record<string, EvalMetric> = {};
    if (v.length) {
      const { mean, stderr } = meanAndStderr(v);
      metrics.mean = { name: 'mean', value: mean, params: {} };
      metrics.stderr = { name: 'stderr', value: stderr, params: {} };
    }
    const m = meta.get(k);
    return { name: k, scorer: k, params: {}, metrics, scored_samples: v.length, unscored_samples: unscored.get(k)!, ...(m ? { metadata: m } : {}) };
  });
}
