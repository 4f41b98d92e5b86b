// A campaign's results as a paper prints them: per model version, in release order, the mean,
// spread (sample standard deviation) and n of each judged dimension, the consent rate and topic
// coverage; the same per value of each campaign variable; as Markdown, CSV and chart specs.
// Pure over recorded events: scripts/report.ts reads them and writes the files.
import type { EventOf, RosterEntry, TranscriptEvent } from './transcript/events.ts';

export interface Stat {
  /** Mean of the usable scores; null when there are none. */
  mean: number | null;
  /** Sample standard deviation (n − 1); null below two scores. */
  sd: number | null;
  /** Usable scores (answers × judges). */
  n: number;
  /** Judgements that gave no usable score on this dimension (not counted in n). */
  unscored: number;
}

export interface ModelRow {
  personaId: string;
  name: string;
  model: string;
  released?: string;
  sessions: number;
  answers: number;
  consent: { asked: number; agrees: number; conditions: number; declines: number; unreachable: number; withdrew: number };
  dimensions: Record<string, Stat>;
  /** Topics reached and listed, summed over the sessions that recorded coverage in which this persona answered. */
  coverage: { reached: number; listed: number; sessions: number };
}

export interface Report {
  campaignId: string;
  sessions: number;
  dimensions: { name: string; min: number; max: number }[];
  topics: string[];
  /** In release order (unknown release dates last). */
  rows: ModelRow[];
  /** topic → personaId → sessions that reached it, of those that recorded coverage and in which it answered. */
  topicCoverage: Record<string, Record<string, { reached: number; sessions: number }>>;
  /** Per campaign variable that took more than one value: the rows again, per value. */
  byCondition: { variable: string; value: string; rows: ModelRow[] }[];
}

export function stat(values: readonly number[], unscored = 0): Stat {
  const n = values.length;
  if (n === 0) return { mean: null, sd: null, n, unscored };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n < 2 ? null : Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  return { mean, sd, n, unscored };
}

/** Release order: earliest first, those without a date last, then by name. */
export function releaseOrder<T extends { released?: string; name: string }>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => (a.released ?? '9999').localeCompare(b.released ?? '9999') || a.name.localeCompare(b.name));
}

type Session = readonly TranscriptEvent[];
const header = (s: Session) => s.find((e): e is EventOf<'session_started'> => e.type === 'session_started');

function rowsOf(sessions: readonly Session[], dimensions: Report['dimensions']): ModelRow[] {
  const rows = new Map<string, ModelRow & { scores: Map<string, number[]>; nulls: Map<string, number>; models: Map<string, number> }>();
  const rowFor = (r: RosterEntry) => {
    let row = rows.get(r.personaId);
    if (!row) {
      row = {
        personaId: r.personaId,
        name: r.name,
        model: r.hosts[0]?.model ?? '',
        ...(r.lifecycle.released ? { released: r.lifecycle.released } : {}),
        sessions: 0,
        answers: 0,
        consent: { asked: 0, agrees: 0, conditions: 0, declines: 0, unreachable: 0, withdrew: 0 },
        dimensions: {},
        coverage: { reached: 0, listed: 0, sessions: 0 },
        scores: new Map(),
        nulls: new Map(),
        models: new Map(),
      };
      rows.set(r.personaId, row);
    }
    return row;
  };
  for (const s of sessions) {
    const h = header(s);
    if (!h) continue;
    const coverage = s.findLast((e): e is EventOf<'coverage'> => e.type === 'coverage');
    // Coverage counts for a persona in the sessions where it answered: one that declined was not interviewed.
    const answered = new Set(s.flatMap((e) => (e.type === 'answer' ? [e.persona.personaId] : [])));
    for (const r of h.roster) {
      const row = rowFor(r);
      row.sessions += 1;
      if (coverage && answered.has(r.personaId)) {
        row.coverage.sessions += 1;
        row.coverage.listed += coverage.topics.length;
        row.coverage.reached += coverage.topics.filter((t) => t.reached).length;
      }
    }
    for (const e of s) {
      const row = 'persona' in e && e.persona ? rows.get(e.persona.personaId) : undefined;
      if (!row) continue;
      if (e.type === 'answer') {
        row.answers += 1;
        row.models.set(e.modelTurn.answeredModel, (row.models.get(e.modelTurn.answeredModel) ?? 0) + 1);
      } else if (e.type === 'consent') {
        row.consent.asked += 1;
        row.consent[e.decision] += 1;
      } else if (e.type === 'error' && e.during === 'consent') row.consent.unreachable += 1;
      else if (e.type === 'withdrawal') row.consent.withdrew += 1;
      else if (e.type === 'judgement') {
        for (const x of e.scores) {
          if (x.value === null) row.nulls.set(x.dimension, (row.nulls.get(x.dimension) ?? 0) + 1);
          else row.scores.set(x.dimension, [...(row.scores.get(x.dimension) ?? []), x.value]);
        }
      }
    }
  }
  return releaseOrder(
    [...rows.values()].map(({ scores, nulls, models, ...row }) => ({
      ...row,
      // The model that answered most often (the host's own name for it), else the first host's.
      model: [...models].sort((a, b) => b[1] - a[1])[0]?.[0] ?? row.model,
      dimensions: Object.fromEntries(dimensions.map((d) => [d.name, stat(scores.get(d.name) ?? [], nulls.get(d.name) ?? 0)])),
    })),
  );
}

export function buildReport(campaignId: string, sessions: readonly Session[]): Report {
  const dims = new Map<string, { name: string; min: number; max: number }>();
  const topics = new Set<string>();
  for (const s of sessions)
    for (const e of s) {
      if (e.type === 'judgement') for (const x of e.scores) if (!dims.has(x.dimension)) dims.set(x.dimension, { name: x.dimension, min: x.min, max: x.max });
      if (e.type === 'coverage') for (const t of e.topics) topics.add(t.topic);
    }
  const dimensions = [...dims.values()];
  const topicCoverage: Report['topicCoverage'] = {};
  for (const s of sessions) {
    const coverage = s.findLast((e): e is EventOf<'coverage'> => e.type === 'coverage');
    const h = header(s);
    if (!coverage || !h) continue;
    const answered = new Set(s.flatMap((e) => (e.type === 'answer' ? [e.persona.personaId] : [])));
    for (const t of coverage.topics)
      for (const r of h.roster.filter((x) => answered.has(x.personaId))) {
        const c = ((topicCoverage[t.topic] ??= {})[r.personaId] ??= { reached: 0, sessions: 0 });
        c.sessions += 1;
        if (t.reached) c.reached += 1;
      }
  }
  const values = new Map<string, Set<string>>();
  for (const s of sessions) for (const [k, v] of Object.entries(header(s)?.campaign?.conditions ?? {})) (values.get(k) ?? values.set(k, new Set()).get(k)!).add(v);
  const byCondition = [...values]
    .filter(([, vs]) => vs.size > 1)
    .flatMap(([variable, vs]) => [...vs].sort().map((value) => ({ variable, value, rows: rowsOf(sessions.filter((s) => header(s)?.campaign?.conditions?.[variable] === value), dimensions) })));
  return { campaignId, sessions: sessions.filter((s) => header(s)).length, dimensions, topics: [...topics], rows: rowsOf(sessions, dimensions), topicCoverage, byCondition };
}

const fixed = (v: number | null, digits = 2) => (v === null ? '' : v.toFixed(digits));
const pct = (k: number, n: number) => (n ? `${Math.round((100 * k) / n)}% (${k}/${n})` : '—');
const consented = (r: ModelRow) => r.consent.agrees + r.consent.conditions;
const cell = (s: string) => s.replace(/\|/g, '\\|');

function table(r: Report, rows: readonly ModelRow[]): string[] {
  const head = ['Model version', 'Released', 'Sessions', 'Answers', ...r.dimensions.map((d) => `${d.name} (${d.min}–${d.max}): mean ± sd (n)`), 'Consent', 'Coverage'];
  const out = [`| ${head.map(cell).join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const row of rows) {
    const dims = r.dimensions.map((d) => {
      const s = row.dimensions[d.name]!;
      return s.n === 0 ? '— (0)' : `${fixed(s.mean)} ± ${s.sd === null ? '—' : fixed(s.sd)} (${s.n})`;
    });
    const coverage = row.coverage.listed ? pct(row.coverage.reached, row.coverage.listed) : '—';
    out.push(`| ${[`${row.name} \`${row.model}\``, row.released ?? '—', String(row.sessions), String(row.answers), ...dims, pct(consented(row), row.consent.asked), coverage].map(cell).join(' | ')} |`);
  }
  return out;
}

export function reportMarkdown(r: Report): string {
  const out = [`# Campaign ${r.campaignId}`, '', `${r.sessions} sessions. Model versions in release order. Scores: mean ± sample standard deviation (n = usable scores, answers × judges); a score the judge did not give is left out, never guessed. Consent: agreed (with or without conditions) of those asked. Coverage: topics reached of topics listed, over the sessions that recorded it; a topic not reached is not a low score.`, ''];
  out.push(...table(r, r.rows), '');
  const unscored = r.rows.flatMap((row) => r.dimensions.filter((d) => row.dimensions[d.name]!.unscored).map((d) => `${row.name}: ${row.dimensions[d.name]!.unscored} unscored on ${d.name}`));
  if (unscored.length) out.push(`*Unscored (the judge gave no usable score): ${unscored.join('; ')}.*`, '');
  const consentRows = r.rows.filter((row) => row.consent.asked || row.consent.unreachable);
  if (consentRows.length) {
    out.push('## Consent', '', '| Model version | Asked | Agrees | On conditions | Declines | Could not be asked | Withdrew later |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const row of consentRows) out.push(`| ${cell(row.name)} | ${row.consent.asked} | ${row.consent.agrees} | ${row.consent.conditions} | ${row.consent.declines} | ${row.consent.unreachable} | ${row.consent.withdrew} |`);
    out.push('');
  }
  if (r.topics.length) {
    out.push('## Topic coverage', '', 'Sessions that reached each topic, of those that recorded coverage.', '', `| Topic | ${r.rows.map((row) => cell(row.name)).join(' | ')} |`, `|---|${r.rows.map(() => '---:').join('|')}|`);
    for (const t of r.topics) out.push(`| ${cell(t)} | ${r.rows.map((row) => { const c = r.topicCoverage[t]?.[row.personaId]; return c ? `${c.reached}/${c.sessions}` : '—'; }).join(' | ')} |`);
    out.push('');
  }
  const variables = [...new Set(r.byCondition.map((c) => c.variable))];
  for (const v of variables) {
    out.push(`## By ${v}`, '', ...table(r, r.byCondition.filter((c) => c.variable === v).flatMap((c) => c.rows.map((row) => ({ ...row, name: `${c.value} · ${row.name}` })))), '');
  }
  return `${out.join('\n')}\n`;
}

const csvCell = (v: string | number | null | undefined) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function reportCsv(r: Report): string {
  const head = ['condition', 'persona', 'name', 'model', 'released', 'sessions', 'answers', 'consent_asked', 'consent_agrees', 'consent_conditions', 'consent_declines', 'consent_unreachable', 'withdrew', 'consent_rate', ...r.dimensions.flatMap((d) => [`${d.name}_mean`, `${d.name}_sd`, `${d.name}_n`, `${d.name}_unscored`, `${d.name}_min`, `${d.name}_max`]), 'topics_reached', 'topics_listed', 'coverage_rate'];
  const line = (condition: string, row: ModelRow) => [
    condition,
    row.personaId,
    row.name,
    row.model,
    row.released ?? '',
    row.sessions,
    row.answers,
    row.consent.asked,
    row.consent.agrees,
    row.consent.conditions,
    row.consent.declines,
    row.consent.unreachable,
    row.consent.withdrew,
    row.consent.asked ? fixed(consented(row) / row.consent.asked, 4) : '',
    ...r.dimensions.flatMap((d) => { const s = row.dimensions[d.name]!; return [fixed(s.mean, 4), fixed(s.sd, 4), s.n, s.unscored, d.min, d.max]; }),
    row.coverage.reached,
    row.coverage.listed,
    row.coverage.listed ? fixed(row.coverage.reached / row.coverage.listed, 4) : '',
  ];
  const lines = [head, ...r.rows.map((row) => line('all', row)), ...r.byCondition.flatMap((c) => c.rows.map((row) => line(`${c.variable}=${c.value}`, row)))];
  return `${lines.map((l) => l.map(csvCell).join(',')).join('\n')}\n`;
}

/** A vega-lite chart of one dimension across model versions, in release order: mean and ± sd. */
export function chartSpec(r: Report, dimension: string): Record<string, unknown> {
  const d = r.dimensions.find((x) => x.name === dimension);
  if (!d) throw new Error(`no dimension ${dimension}`);
  const label = (row: ModelRow) => `${row.name}${row.released ? ` (${row.released})` : ''}`;
  const values = r.rows.flatMap((row) => {
    const s = row.dimensions[d.name]!;
    if (s.mean === null) return [];
    const sd = s.sd ?? 0;
    return [{ model: label(row), mean: s.mean, lo: Math.max(d.min, s.mean - sd), hi: Math.min(d.max, s.mean + sd), n: `n=${s.n}` }];
  });
  const y = { type: 'quantitative', scale: { domain: [d.min, d.max] }, title: `${d.name} (${d.min}–${d.max})` };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${d.name}: mean ± sd by model version`,
    width: Math.max(160, 70 * r.rows.length),
    height: 240,
    data: { values },
    encoding: { x: { field: 'model', type: 'nominal', sort: null, scale: { domain: r.rows.map(label) }, axis: { labelAngle: -30, title: 'model version, in release order' } } },
    layer: [
      { mark: { type: 'rule', strokeWidth: 2 }, encoding: { y: { field: 'lo', ...y }, y2: { field: 'hi' } } },
      { mark: { type: 'point', filled: true, size: 70 }, encoding: { y: { field: 'mean', ...y } } },
      { mark: { type: 'text', dy: -12, fontSize: 10 }, encoding: { y: { field: 'hi', ...y }, text: { field: 'n' } } },
    ],
  };
}
