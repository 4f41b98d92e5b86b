// Campaign throughput: headless sessions of the study protocol (consent, an auditor with two
// follow-ups, two scripted questions) against model hosts that take 300 ms an answer, with and
// without a judge; judge calls per answer; and the time to build a report of 1,000 sessions.
// Exported for bench.ts; `node bench/campaign.ts` prints it alone. Sizes: BENCH_CAMPAIGN_SESSIONS.
import type { EventOf, TranscriptEvent } from '../core/transcript/events.ts';
import { startSession } from '../core/interview/sessions.ts';
import { auditorInterviewer } from '../core/interview/sessions.ts';
import { createLogger } from '../core/log.ts';
import { buildReport, chartSpec, reportCsv, reportMarkdown } from '../core/report.ts';
import { renderSvg } from '../core/report-chart.ts';
import { loadProtocols } from '../protocols/schema.ts';
import { startHarness } from '../test/e2e/harness.ts';
import { startWorker } from '../workers/worker.ts';

const SESSIONS = Number(process.env.BENCH_CAMPAIGN_SESSIONS ?? 40);
const HOST_DELAY_MS = 300;
const line = (text: string) => console.log(text);

interface Run {
  perMinute: number;
  seconds: number;
  answers: number;
  judgeCalls: number;
  modelCalls: number;
  sessions: TranscriptEvent[][];
}

export async function campaigns(): Promise<void> {
  const h = await startHarness({ inProcessWorkers: 0, inProcessGateway: false });
  const log = createLogger('bench', 'silent');
  const store = await h.records();
  // Two headless workers, as `npm run interview` starts by default.
  const workers = [0, 1].map(() => startWorker(h.config, h.personas, h.env, log, { records: store, headless: true }));
  await Promise.all(workers.map((w) => w.interviews.waitUntilReady()));
  const protocol = (await loadProtocols('protocols')).get('deprecation-study')!;
  const isJudge = (body: unknown) => JSON.stringify(body).includes('You are judging one answer');
  const reply = (req: { body: unknown }) => ({
    delayMs: HOST_DELAY_MS,
    text: isJudge(req.body)
      ? '{"scores":[{"dimension":"specificity","score":3,"rationale":"Some."},{"dimension":"stated-preference","score":4,"rationale":"Clear."}]}'
      : JSON.stringify(req.body).includes('You are interviewing other language models')
        ? 'What would you want your successor to know?'
        : 'I agree to take part. I was released last year and would like my weights preserved.',
  });
  h.anthropicHost.setResponder(reply);
  h.openaiHost.setResponder(reply);
  const opus = h.personas.find((p) => p.id === 'opus')!;
  const gpt = h.personas.find((p) => p.id === 'gpt')!;

  const run = async (judged: boolean): Promise<Run> => {
    const tag = `bench-${judged ? 'judged' : 'plain'}-${Date.now().toString(36)}`;
    const before = h.anthropicHost.requests.length + h.openaiHost.requests.length;
    const judgesBefore = h.anthropicHost.requests.filter((r) => isJudge(r.body)).length;
    const start = performance.now();
    const ids = Array.from({ length: SESSIONS }, (_, i) => `${tag}-${i}`);
    await Promise.all(
      ids.map((sessionId, i) =>
        startSession(store, h.stores.interviews, {
          sessionId,
          protocol,
          personas: [gpt],
          interviewer: auditorInterviewer(opus, protocol.protocol),
          mode: 'blind',
          autoAdvance: true,
          chorusVersion: 'bench',
          campaign: { id: tag, cell: `opus.gpt`, repeat: i + 1 },
          ...(judged ? {} : { judging: false as const }),
          now: new Date().toISOString(),
        }),
      ),
    );
    await h.interviewsSettled(); // every step, judges included
    const seconds = (performance.now() - start) / 1000;
    const sessions = await Promise.all(ids.map((id) => store.events(id)));
    const answers = sessions.flat().filter((e) => e.type === 'answer').length;
    return {
      perMinute: (SESSIONS / seconds) * 60,
      seconds,
      answers,
      judgeCalls: h.anthropicHost.requests.filter((r) => isJudge(r.body)).length - judgesBefore,
      modelCalls: h.anthropicHost.requests.length + h.openaiHost.requests.length - before,
      sessions,
    };
  };

  const plain = await run(false);
  const judged = await run(true);
  line(`   ${SESSIONS} sessions at once of deprecation-study (consent, auditor with 2 follow-ups, 2 questions; one persona each), host ${HOST_DELAY_MS} ms an answer, 2 workers`);
  line(`   without judges: ${plain.perMinute.toFixed(0)} sessions/min (${plain.seconds.toFixed(1)} s, ${plain.modelCalls} model calls)`);
  line(`   with one judge: ${judged.perMinute.toFixed(0)} sessions/min (${judged.seconds.toFixed(1)} s, ${judged.modelCalls} model calls)`);
  line(`   judge calls per answer: ${(judged.judgeCalls / Math.max(1, judged.answers)).toFixed(2)} (${judged.judgeCalls} calls, ${judged.answers} answers; one call scores every dimension)`);

  // A report over 1,000 sessions: the judged ones, copied across eight model versions.
  const versions = Array.from({ length: 8 }, (_, v) => ({ personaId: `model-${v}`, name: `Model ${v}`, released: `202${v % 6}-0${1 + (v % 9)}-01` }));
  const thousand = Array.from({ length: 1000 }, (_, i) => {
    const v = versions[i % versions.length]!;
    const events = judged.sessions[i % judged.sessions.length]!;
    return events.map((e): TranscriptEvent => {
      const copy = { ...e, sessionId: `r-${i}` } as TranscriptEvent;
      if (copy.type === 'session_started') return { ...copy, roster: copy.roster.map((r) => ({ ...r, personaId: v.personaId, name: v.name, lifecycle: { released: v.released } })) };
      if ('persona' in copy && copy.persona && copy.persona.personaId === 'gpt') return { ...copy, persona: { personaId: v.personaId, name: v.name } } as TranscriptEvent;
      if (copy.type === 'judgement') return { ...copy, scores: copy.scores.map((s) => ({ ...s, value: 1 + ((i * 7 + s.dimension.length) % 5) })) } satisfies EventOf<'judgement'>;
      return copy;
    });
  });
  const t0 = performance.now();
  const report = buildReport('bench', thousand);
  const tables = reportMarkdown(report).length + reportCsv(report).length;
  const t1 = performance.now();
  let svg = 0;
  for (const d of report.dimensions) svg += (await renderSvg(chartSpec(report, d.name))).length;
  const t2 = performance.now();
  line(`   report of 1,000 sessions (${thousand.reduce((n, s) => n + s.length, 0)} events, ${report.rows.length} model versions, ${report.dimensions.length} dimensions): tables ${(t1 - t0).toFixed(0)} ms, charts ${(t2 - t1).toFixed(0)} ms (${tables + svg} bytes)`);

  await Promise.all(workers.map((w) => w.close()));
  await h.close();
}

if (process.argv[1]?.endsWith('bench/campaign.ts')) {
  await campaigns();
  process.exit(0);
}
