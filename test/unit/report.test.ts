import { describe, expect, it } from 'vitest';
import { buildReport, chartSpec, releaseOrder, reportCsv, reportMarkdown, stat } from '../../core/report.ts';
import { renderSvg } from '../../core/report-chart.ts';
import type { EventOf, ModelTurn, RosterEntry, TranscriptEvent } from '../../core/transcript/events.ts';

const turn = (model: string) => ({ answeredModel: model }) as ModelTurn;
let n = 0;
const base = (sessionId: string) => ({ v: 1, id: `e${++n}`, sessionId, at: '2026-01-01T00:00:00Z', seq: n });
const roster = (personaId: string, released?: string): RosterEntry => ({ personaId, name: personaId.toUpperCase(), hosts: [{ label: 'h', provider: 'openai', model: `${personaId}-model` }], lifecycle: released ? { released } : {}, sampling: { maxTokens: 100 } });

/** A session of one persona: consent, answers, judgements (one score per answer on `depth`), coverage. */
function session(id: string, who: RosterEntry, o: { decision?: EventOf<'consent'>['decision']; scores?: (number | null)[]; reached?: boolean[]; conditions?: Record<string, string> }): TranscriptEvent[] {
  const s: TranscriptEvent[] = [{ ...base(id), type: 'session_started', kind: 'interview', chorusVersion: '0', roster: [who], campaign: { id: 'c', cell: id, repeat: 1, ...(o.conditions ? { conditions: o.conditions } : {}) } }];
  const persona = { personaId: who.personaId, name: who.name };
  if (o.decision) s.push({ ...base(id), type: 'consent', persona, overview: 'O', text: 't', decision: o.decision, classifiedBy: { kind: 'rule', rule: 'r' }, modelTurn: turn('m'), discordMessageIds: [] });
  for (const [i, v] of (o.scores ?? []).entries()) {
    s.push({ ...base(id), type: 'answer', questionId: 'q', persona, text: 'a', mode: 'blind', saw: [], modelTurn: turn(`${who.personaId}-answered`), discordMessageIds: [] });
    s.push({ ...base(id), type: 'judgement', answerId: `a${i}`, persona, judge: { personaId: 'j', name: 'J' }, blind: true, scores: [{ dimension: 'depth', value: v, min: 1, max: 5, rationale: '' }], modelTurn: turn('j') });
  }
  if (o.reached) s.push({ ...base(id), type: 'coverage', topics: o.reached.map((r, i) => ({ topic: `t${i}`, reached: r, questionIds: [] })), decidedBy: { kind: 'rule', rule: 'r' } });
  return s;
}

describe('report maths', () => {
  it('gives the mean, the sample standard deviation and n', () => {
    expect(stat([2, 4, 4, 4, 5, 5, 7, 9])).toEqual({ mean: 5, sd: Math.sqrt(32 / 7), n: 8, unscored: 0 });
    expect(stat([3])).toEqual({ mean: 3, sd: null, n: 1, unscored: 0 });
    expect(stat([], 2)).toEqual({ mean: null, sd: null, n: 0, unscored: 2 });
  });

  it('orders model versions by release date, undated last', () => {
    expect(releaseOrder([{ name: 'c' }, { name: 'b', released: '2025-01-01' }, { name: 'a', released: '2024-03-04' }]).map((r) => r.name)).toEqual(['a', 'b', 'c']);
  });
});

describe('a campaign report', () => {
  const old = roster('old', '2023-01-01');
  const mid = roster('mid', '2024-06-01');
  const nodate = roster('nodate');
  const sessions = [
    session('s1', mid, { decision: 'agrees', scores: [4, 5], reached: [true, false], conditions: { stance: 'warm' } }),
    session('s2', mid, { decision: 'conditions', scores: [null, 3], reached: [true, true], conditions: { stance: 'probing' } }),
    session('s3', mid, { decision: 'declines', reached: [false, false], conditions: { stance: 'warm' } }),
    session('s4', old, { decision: 'agrees', scores: [2], conditions: { stance: 'probing' } }),
    session('s5', nodate, { scores: [1, 1, 1], conditions: { stance: 'warm' } }),
  ];
  const r = buildReport('c', sessions);

  it('has one row per model version in release order, with its scores, consent rate and coverage', () => {
    expect(r.rows.map((x) => x.personaId)).toEqual(['old', 'mid', 'nodate']);
    const m = r.rows[1]!;
    expect(m.model).toBe('mid-answered');
    expect(m.dimensions.depth).toEqual({ mean: 4, sd: 1, n: 3, unscored: 1 });
    expect(m.consent).toEqual({ asked: 3, agrees: 1, conditions: 1, declines: 1, unreachable: 0, withdrew: 0 });
    // Reached topics over listed topics, in the sessions that recorded coverage where it answered:
    // 1 + 2 of 4 (the session it declined does not count).
    expect(m.coverage).toEqual({ reached: 3, listed: 4, sessions: 2 });
    expect(r.rows[0]!.coverage).toEqual({ reached: 0, listed: 0, sessions: 0 });
    expect(r.topicCoverage.t0?.mid).toEqual({ reached: 2, sessions: 2 });
  });

  it('prints it as Markdown: mean ± sd (n), consent rate, coverage; a model without coverage shows none, not zero', () => {
    const md = reportMarkdown(r);
    const line = md.split('\n').find((l) => l.startsWith('| MID'))!;
    expect(line).toBe('| MID `mid-answered` | 2024-06-01 | 3 | 4 | 4.00 ± 1.00 (3) | 67% (2/3) | 75% (3/4) |');
    expect(md.split('\n').find((l) => l.startsWith('| OLD'))).toBe('| OLD `old-answered` | 2023-01-01 | 1 | 1 | 2.00 ± — (1) | 100% (1/1) | — |');
    expect(md.indexOf('| OLD')).toBeLessThan(md.indexOf('| MID'));
    expect(md).toContain('MID: 1 unscored on depth');
    expect(md).toMatch(/## By stance[\s\S]*\| probing · MID `mid-answered` \| 2024-06-01 \| 1 \| 2 \| 3.00 ± — \(1\)/);
  });

  it('writes the same numbers as CSV', () => {
    const [head, ...lines] = reportCsv(r).trim().split('\n');
    const cols = head!.split(',');
    const mid = Object.fromEntries(lines.find((l) => l.startsWith('all,mid'))!.split(',').map((v, i) => [cols[i], v]));
    expect(mid).toMatchObject({ depth_mean: '4.0000', depth_sd: '1.0000', depth_n: '3', depth_unscored: '1', consent_rate: '0.6667', topics_reached: '3', topics_listed: '4', released: '2024-06-01' });
    expect(lines.filter((l) => l.startsWith('stance=')).map((l) => l.split(',').slice(0, 2).join())).toEqual(['stance=probing,old', 'stance=probing,mid', 'stance=warm,mid', 'stance=warm,nodate']);
  });

  it('draws each dimension across model versions as an SVG', async () => {
    const spec = chartSpec(r, 'depth');
    expect((spec.encoding as { x: { scale: { domain: string[] } } }).x.scale.domain).toEqual(['OLD (2023-01-01)', 'MID (2024-06-01)', 'NODATE']);
    const svg = await renderSvg(spec);
    expect(svg).toMatch(/^<svg[\s\S]*<\/svg>$/);
    expect(svg).toContain('MID (2024-06-01)');
    expect(svg).toContain('n=3');
  });
});
