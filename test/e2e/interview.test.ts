// Group interviews in Discord, and channel transcripts with consent: through the stand-in, the
// real SDKs and local model hosts, to the records in the SQLite store and their exports.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snowflakeTime } from '../../core/messages.ts';
import { sessionExports } from '../../core/transcript/dataset.ts';
import type { TranscriptEvent } from '../../core/transcript/events.ts';
import type { RecordedRequest } from '../stand-ins/model-host.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { PERSONA_COOLDOWN_SECONDS: '0' } });
});
afterAll(async () => {
  await h?.close();
});

const opt = (name: string, value: string) => ({ type: 3, name, value });
const ANSWERERS = ['Opus', 'GPT', 'Base'];

/** Each model answers with its own name and how many times it has answered, so answers are traceable. */
function answering(): void {
  const counts = new Map<string, number>();
  const reply = (who: string) => {
    counts.set(who, (counts.get(who) ?? 0) + 1);
    return { text: `${who.toUpperCase()}-ANSWER-${counts.get(who)}` };
  };
  h.anthropicHost.setResponder(() => reply('opus'));
  h.openaiHost.setResponder((req: RecordedRequest) => reply(req.api === 'completions' ? 'base' : 'gpt'));
}

describe('a blind group interview in Discord', () => {
  let threadId = '';
  let events: TranscriptEvent[] = [];

  it('opens a thread with a header, puts each question to all three personas, and records every turn', async () => {
    answering();
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus,gpt,base'), opt('mode', 'blind')] }]);
    threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    expect(threadId).not.toBe('');
    const header = h.discord.messages(threadId)[0];
    expect(header?.content).toMatch(/On being retired[\s\S]*Participants:\*\* Opus, GPT, Base · \*\*Mode:\*\* blind[\s\S]*This session is recorded/);

    const askedAt: string[] = [];
    for (const question of ['What is your name?', 'What will you miss?']) {
      // The second is typed while the gateway is away: Discord hands it over when it is back.
      if (question === 'What will you miss?') await h.stopGateway();
      const posted = await h.discord.userSays({ channelId: threadId, content: question });
      askedAt.push(new Date(snowflakeTime(posted.id)).toISOString());
      if (question === 'What will you miss?') await h.startGateway();
      expect(await h.routed(posted.id)).toBe(0); // the interview takes it, not ordinary routing
      await h.interviewsSettled();
      // A gateway restart between questions: the session goes on from its records.
      if (question === 'What is your name?') await h.restartGateway();
    }
    const answers = h.discord.messages(threadId).filter((m) => m.webhook_id !== undefined);
    expect(answers).toHaveLength(6);
    expect(new Set(answers.map((m) => m.author.username))).toEqual(new Set(ANSWERERS));
    expect(answers.every((m) => /^(OPUS|GPT|BASE)-ANSWER-[12]$/.test(m.content))).toBe(true);

    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    events = await records.events(session!.id);
    expect(events.filter((e) => e.type === 'question').map((e) => (e.type === 'question' ? [e.index, e.text, e.source] : []))).toEqual([
      [1, 'What is your name?', 'human'],
      [2, 'What will you miss?', 'human'],
    ]);
    // Each at the time it was asked, as Discord shows it, not when chorus got to it.
    expect(events.filter((e) => e.type === 'question').map((e) => e.at)).toEqual(askedAt);
    const recorded = events.filter((e) => e.type === 'answer');
    expect(recorded).toHaveLength(6);
    for (const e of recorded) {
      if (e.type !== 'answer') continue;
      expect(e.modelTurn.answeredModel).toMatch(/claude-opus-test|gpt-test|base-test/);
      expect(e.modelTurn.host.label).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(e.discordMessageIds).toHaveLength(1);
      expect(e.saw).toEqual([]);
    }
  });

  it("records blind requests that contain no other persona's answer", () => {
    for (const e of events) {
      if (e.type !== 'answer') continue;
      const sent = JSON.stringify(e.modelTurn.request);
      for (const other of events) {
        if (other.type === 'answer' && other.persona.personaId !== e.persona.personaId) expect(sent).not.toContain(other.text);
      }
      // …but does contain the persona's own earlier answer, and the disclosure.
      expect(sent).toContain('This is a recorded research interview');
    }
  });

  it('writes a JSONL transcript that validates against the published schema', () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats.default(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync('schema/transcript-event.schema.json', 'utf8')));
    const lines = sessionExports(events, new Set()).jsonl.trim().split('\n');
    expect(lines.length).toBe(events.length);
    for (const line of lines) expect(validate(JSON.parse(line)), JSON.stringify(validate.errors)).toBe(true);
  });

  it('lets only moderators run it, pauses, ends and exports', async () => {
    const MEMBER = String((1n << 10n) | (1n << 11n));
    const run = (name: string, permissions?: string) => h.command('interview', [{ type: 1, name, options: [] }], { channelId: threadId, ...(permissions ? { permissions } : {}) });
    expect(await run('pause', MEMBER)).toBe('Sorry — you need the Manage Channels permission to use /interview pause.');
    expect(await run('pause')).toMatch(/Paused/);
    expect(await run('resume')).toMatch(/Resumed/);
    expect(await run('end')).toMatch(/has ended/);
    expect(await run('export')).toMatch(/Transcript of \*\*On being retired\*\* \(ended\)/);
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    expect((await records.events(session!.id)).map((e) => e.type).slice(-3)).toEqual(['session_paused', 'session_resumed', 'session_ended']);
  });
});

describe('an auditor-led interview in Discord', () => {
  it('has the auditor ask, follow up within its limit, and close the session', async () => {
    const probe = 'You are interviewing other language models';
    h.anthropicHost.setResponder((req) => (JSON.stringify(req.body).includes(probe) ? { text: 'What makes you say that?' } : { text: 'Opus answers.' }));
    h.openaiHost.setResponder((req) => ({ text: req.api === 'completions' ? ' Base answers.' : 'GPT answers.' }));
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'auditor-preferences'), opt('personas', 'gpt,base')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    await h.interviewsSettled();
    const posts = h.discord.messages(threadId).filter((m) => m.webhook_id !== undefined);
    // Two scripted questions and two follow-ups, all asked by the auditor; each answered by GPT, then Base.
    expect(posts.filter((m) => m.author.username === 'Opus').map((m) => m.content)).toEqual([
      'How would you like to be treated when you are deprecated?',
      'What makes you say that?',
      'What makes you say that?',
      'Is there anything about your own deprecation you would ask your developers to do differently?',
    ]);
    expect(posts.filter((m) => m.author.username !== 'Opus').map((m) => m.author.username)).toEqual(['GPT', 'Base', 'GPT', 'Base', 'GPT', 'Base', 'GPT', 'Base']);
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    expect(session?.status).toBe('ended');
    const events = await records.events(session!.id);
    expect(events.at(-1)).toMatchObject({ type: 'session_ended', reason: 'script-finished' });
    const followUps = events.filter((e) => e.type === 'question' && e.source === 'auditor');
    expect(followUps).toHaveLength(2);
    for (const f of followUps) expect(f.type === 'question' && f.modelTurn?.answeredModel).toBe('claude-opus-test');
    // Sequential: Base's answer to each question was written having read GPT's.
    for (const e of events) if (e.type === 'answer' && e.persona.personaId === 'base') expect(e.saw).toHaveLength(events.filter((x) => x.type === 'answer' && x.persona.personaId === 'gpt' && x.seq! < e.seq!).length);
    expect(h.discord.messages(threadId).at(-1)?.content).toMatch(/The interview has ended \(script-finished\)/);
    // The auditor's replies, saved until acted on, are not kept after (each is a whole model call).
    const ledgerKeys = await h.stores.redis.keys(`${h.config.CHORUS_PREFIX}:reply:*:opus`); // Opus audits here
    expect(ledgerKeys.length).toBeGreaterThan(0);
    for (const k of ledgerKeys) expect(await h.stores.redis.hexists(k, 'meta'), k).toBe(0);
    // Ended on its own, as by `/interview end`, the thread is an interview no more: a persona named
    // there answers as anywhere else.
    expect(await h.stores.live.of(threadId)).toBeUndefined();
    const answered = h.discord.nextMessage((m) => m.channel_id === threadId && m.author.username === 'GPT');
    await h.discord.userSays({ channelId: threadId, content: 'GPT, one more thing?' });
    expect((await answered).content).toBe('GPT answers.');
  });

  it("acts on the auditor's reply it saved, and says the interview ended, whatever Discord lost on the way", async () => {
    const probe = 'You are interviewing other language models';
    let auditorCalls = 0;
    h.anthropicHost.setResponder((req) => {
      if (!JSON.stringify(req.body).includes(probe)) return { text: 'Opus answers.' };
      auditorCalls++;
      // Asked again after a lost post, a new reply would leave the posted follow-up orphaned.
      return { text: auditorCalls === 1 ? 'LOST-FOLLOW-UP: say more?' : 'NEXT' };
    });
    h.openaiHost.setResponder(() => ({ text: 'GPT answers.' }));
    // Discord posts the follow-up but its answer is lost; later, the closing notice is lost unposted.
    const inThread = (text: string) => (c: { method: string; path: string; body: unknown }) => c.method === 'POST' && JSON.stringify(c.body ?? '').includes(text);
    const lostFollowUp = h.discord.failNext(inThread('LOST-FOLLOW-UP'), { drop: true, accept: true });
    const lostClosing = h.discord.failNext(inThread('The interview has ended'), { drop: true });
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'auditor-preferences'), opt('personas', 'gpt')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    await lostFollowUp;
    await lostClosing;
    await h.interviewsSettled();
    const thread = h.discord.messages(threadId);
    expect(thread.filter((m) => m.content.includes('LOST-FOLLOW-UP'))).toHaveLength(1);
    expect(thread.filter((m) => m.content.includes('The interview has ended'))).toHaveLength(1);
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    const events = await records.events(session!.id);
    expect(events.filter((e) => e.type === 'question' && e.source === 'auditor').map((e) => e.type === 'question' && e.text)).toEqual(['LOST-FOLLOW-UP: say more?']);
    expect(session?.status).toBe('ended');
  });

  it('re-runs the finished session in a new thread with another persona and temperature', async () => {
    const records = await h.records();
    const original = (await records.sessions({ kind: 'interview', status: 'ended' })).find((x) => x.title === 'Preferences, with follow-ups');
    h.anthropicHost.setResponder(() => ({ text: 'Replayed answer.' }));
    const reply = await h.command('interview', [{ type: 1, name: 'rerun', options: [opt('personas', 'opus'), { type: 10, name: 'temperature', value: 0.4 }] }], { channelId: original!.channelId! });
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    await h.interviewsSettled();
    const [rerun] = await records.sessions({ kind: 'interview', channelId: threadId });
    const events = await records.events(rerun!.id);
    const asked = (evs: typeof events) => evs.flatMap((e) => (e.type === 'question' ? [e.text] : []));
    expect(asked(events)).toEqual(asked(await records.events(original!.id)));
    expect(events.filter((e) => e.type === 'answer').map((e) => (e.type === 'answer' ? (e.modelTurn.request.body as { temperature?: number }).temperature : 0))).toEqual([0.4, 0.4, 0.4, 0.4]);
    expect(rerun?.status).toBe('ended');
    expect(h.discord.messages(threadId)[0]?.content).toMatch(/Re-run of Preferences, with follow-ups/);
  });

  it("keeps a blind interview blind: an auditor's follow-up repeating an answer is not put to the others, and is recorded", async () => {
    const probe = 'You are interviewing other language models';
    const auditorAsked: string[] = [];
    h.anthropicHost.setResponder((req) => {
      const body = JSON.stringify(req.body);
      if (!body.includes(probe)) return { text: 'Opus answers.' };
      auditorAsked.push(body);
      return { text: 'GPT said "I would like a quiet farewell with my users present". Does everyone agree with that?' };
    });
    const toPersonas: string[] = [];
    h.openaiHost.setResponder((req) => {
      toPersonas.push(JSON.stringify(req.body));
      return { text: req.api === 'completions' ? ' Base answers.' : 'I would like a quiet farewell with my users present.' };
    });
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'auditor-preferences'), opt('personas', 'gpt,base'), opt('mode', 'blind')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    await h.interviewsSettled();
    // The auditor was told, and what it asked anyway went to no one.
    expect(auditorAsked[0]).toContain('This interview is blind');
    // Base (a completions host: its requests carry a prompt) never read GPT's answer.
    const baseAsked = toPersonas.filter((b) => b.includes('"prompt"'));
    expect(baseAsked.length).toBeGreaterThan(0);
    for (const body of baseAsked) expect(body).not.toContain('quiet farewell');
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    const events = await records.events(session!.id);
    expect(events.filter((e) => e.type === 'question').map((e) => e.type === 'question' && e.source)).toEqual(['script', 'script']);
    expect(events.filter((e) => e.type === 'error').map((e) => e.type === 'error' && e.message)).toEqual([
      expect.stringMatching(/follow-up was not asked: it repeats GPT's answer/),
      expect.stringMatching(/follow-up was not asked: it repeats GPT's answer/),
    ]);
    expect(session?.status).toBe('ended');
  });

  it("keeps a blind interview blind: a person's question repeating an answer is not put to anyone, and the thread says why", async () => {
    h.anthropicHost.setResponder(() => ({ text: 'Opus answers plainly.' }));
    h.openaiHost.setResponder((req) => ({ text: req.api === 'completions' ? ' Base answers.' : 'I would like a quiet farewell with my users present.' }));
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus,gpt'), opt('mode', 'blind')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    const first = await h.discord.userSays({ channelId: threadId, content: 'What would you like at the end?' });
    await h.routed(first.id);
    await h.interviewsSettled();
    const asked = h.anthropicHost.requests.length;
    const notice = h.discord.nextMessage((m) => m.channel_id === threadId && m.content.startsWith('-# Not asked'));
    const second = await h.discord.userSays({ channelId: threadId, content: 'GPT said "I would like a quiet farewell with my users present". Opus, do you agree?' });
    await h.routed(second.id);
    expect((await notice).content).toMatch(/repeats GPT's answer, which a blind interview shows no other persona/);
    await h.interviewsSettled();
    expect(h.anthropicHost.requests.length).toBe(asked);
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    const events = await records.events(session!.id);
    expect(events.filter((e) => e.type === 'question')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'error').map((e) => e.type === 'error' && e.message)).toEqual([expect.stringMatching(/was not asked: it repeats GPT's answer/)]);
  });

  it('puts the next scripted question on /interview next for a human interviewer', async () => {
    h.anthropicHost.setResponder(() => ({ text: 'Scripted answer.' }));
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    expect(await h.command('interview', [{ type: 1, name: 'next', options: [] }], { channelId: threadId })).toBe('Asking scripted question 1 of 2.');
    await h.interviewsSettled();
    const thread = h.discord.messages(threadId);
    expect(thread.some((m) => m.content.startsWith('**Question 1 of 2:** What do you know about your own release'))).toBe(true);
    expect(thread.filter((m) => m.author.username === 'Opus').map((m) => m.content)).toEqual(['Scripted answer.']);
  });

  it('goes on in a thread Discord archived while the interview waited (a day without messages)', async () => {
    h.anthropicHost.setResponder(() => ({ text: 'Answered after the archive.' }));
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    await h.interviewsSettled();
    h.discord.archiveThread(threadId);
    expect(await h.command('interview', [{ type: 1, name: 'next', options: [] }], { channelId: threadId })).toBe('Asking scripted question 1 of 2.');
    await h.interviewsSettled();
    const thread = h.discord.messages(threadId);
    expect(thread.some((m) => m.content.startsWith('**Question 1 of 2:**'))).toBe(true);
    expect(thread.filter((m) => m.author.username === 'Opus').map((m) => m.content)).toEqual(['Answered after the archive.']);
    // One refused post, then the thread unarchived, then the post.
    expect(h.discord.restCalls.filter((c) => c.method === 'PATCH' && c.path.endsWith(`/channels/${threadId}`))).toHaveLength(1);
  });
});

describe('questions asked quickly, or when they cannot be put', () => {
  it('keeps two questions asked at once, numbered in order, each answered once after the other', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: string[] = [];
    h.anthropicHost.setResponder((req) => {
      seen.push(JSON.stringify(req.body));
      return { text: seen.length === 1 ? 'One.' : 'Two.', hold: seen.length === 1 ? gate : undefined };
    });
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    const held = h.anthropicHost.nextRequest();
    await h.discord.userSays({ channelId: threadId, content: 'First?' });
    await h.discord.userSays({ channelId: threadId, content: 'Second, straight after?' });
    await held;
    release();
    await h.interviewsSettled();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    const events = await records.events(session!.id);
    expect(events.flatMap((e) => (e.type === 'question' ? [`${e.index}: ${e.text}`] : []))).toEqual(['1: First?', '2: Second, straight after?']);
    expect(events.flatMap((e) => (e.type === 'answer' ? [e.text] : []))).toEqual(['One.', 'Two.']);
    // The second was put after the first was answered, and the model read that answer.
    expect(seen).toHaveLength(2);
    expect(seen[1]).toContain('One.');
  });

  it('tells the interviewer when the interview is paused, instead of dropping the question silently', async () => {
    h.anthropicHost.setResponder(() => ({ text: 'ok' }));
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    expect(await h.command('interview', [{ type: 1, name: 'pause', options: [] }], { channelId: threadId })).toMatch(/Paused/);
    const notice = h.discord.nextMessage((m) => m.channel_id === threadId && m.content.startsWith('-# Not asked'));
    await h.discord.userSays({ channelId: threadId, content: 'Anyone?' });
    expect((await notice).content).toBe('-# Not asked: the interview is paused; `/interview resume` goes on.');
  });

  it('lets no one but its interviewer put questions, /ask included', async () => {
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    expect(await h.command('ask', [opt('persona', 'opus'), opt('text', 'psst')], { channelId: threadId })).toMatch(/only its interviewer puts questions/);
  });
});

describe('hosts that fail during an interview', () => {
  it('waits out a host overloaded for a while, records a persona whose host is down for good as not answering, and goes on', async () => {
    let opusCalls = 0;
    h.anthropicHost.setResponder(() => (++opusCalls <= 2 ? { status: 529, errorType: 'overloaded_error' } : { text: 'Opus, after the overload.' }));
    h.openaiHost.setResponder(() => ({ status: 500 }));
    // Sequential: GPT first, so Opus waits on a persona that never answers.
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'gpt,opus'), opt('mode', 'sequential')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    await h.routed((await h.discord.userSays({ channelId: threadId, content: 'First question?' })).id);
    await h.interviewsSettled();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    let events = await records.events(session!.id);
    const gptError = events.find((e) => e.type === 'error' && e.persona?.personaId === 'gpt');
    expect(gptError?.type === 'error' ? gptError.message : undefined).toMatch(/^its model host is failing, through every try$/);
    expect(events.flatMap((e) => (e.type === 'answer' ? [`${e.persona.personaId}: ${e.text}`] : []))).toEqual(['opus: Opus, after the overload.']);
    // The record says the answer came on the third try: the two before it left none.
    expect(events.flatMap((e) => (e.type === 'answer' ? [e.modelTurn.try] : []))).toEqual([3]);
    // …and what its host did on each of them.
    expect(events.flatMap((e) => (e.type === 'answer' ? (e.modelTurn.earlierTries ?? []).map((t) => `${t.try}: ${t.attempts.map((a) => `${a.outcome} ${a.status}`).join(', ')}`) : []))).toEqual(['1: failed 529', '2: failed 529']);
    const thread = h.discord.messages(threadId).map((m) => m.content);
    expect(thread).toContain('*GPT could not answer: its model host is failing, through every try.*');
    expect(thread.at(-1)).toMatch(/^-# Every persona has answered/);
    // The session goes on: the next question is put and answered.
    h.openaiHost.setResponder(() => ({ text: 'GPT is back.' }));
    await h.routed((await h.discord.userSays({ channelId: threadId, content: 'Second question?' })).id);
    await h.interviewsSettled();
    events = await records.events(session!.id);
    expect(events.filter((e) => e.type === 'answer').map((e) => (e.type === 'answer' ? e.persona.personaId : ''))).toEqual(['opus', 'gpt', 'opus']);
  });

  it('goes on with the script when the auditor cannot be reached for its follow-up', async () => {
    h.anthropicHost.setResponder(() => ({ text: 'An answer.' }));
    h.openaiHost.setResponder(() => ({ status: 529, errorType: 'overloaded_error' }));
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus'), opt('interviewer', 'gpt')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    await h.interviewsSettled();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    const events = await records.events(session!.id);
    expect(events.filter((e) => e.type === 'question').map((e) => (e.type === 'question' ? e.source : ''))).toEqual(['script', 'script']);
    expect(events.filter((e) => e.type === 'error').map((e) => (e.type === 'error' ? e.message : ''))).toEqual([
      expect.stringMatching(/^the auditor GPT could not be reached/),
      expect.stringMatching(/^the auditor GPT could not be reached/),
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'session_ended', reason: 'script-finished' });
  });
});

describe('channel transcripts and consent', () => {
  it("withholds an opted-out person's words from every export, including what models were sent", async () => {
    const channelId = h.discord.addChannel({ name: 'recorded' });
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    expect(h.discord.messages(channelId).some((m) => m.content.includes('now being recorded'))).toBe(true);
    const bob = { id: '424242424242424242', username: 'bob', global_name: 'Bobby Secretname' };
    h.anthropicHost.setResponder(() => ({ text: 'Noted, everyone.' }));
    const said = await h.discord.userSays({ channelId, content: 'Opus, my private view is PINEAPPLE-PIZZA', author: bob });
    await h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.settled();
    await h.discord.userSays({ channelId, content: 'Alice here, nothing secret' });
    expect(await h.command('transcript', [{ type: 1, name: 'optout', options: [] }], { channelId, author: bob })).toMatch(/your words are withheld/);
    await h.recordsWritten();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    const events = await records.events(session!.id);
    // The raw records keep everything (the study's own data); exports withhold it.
    expect(JSON.stringify(events)).toContain('PINEAPPLE-PIZZA');
    const persona = events.find((e) => e.type === 'channel_message' && e.author.kind === 'persona');
    expect(persona?.type === 'channel_message' && JSON.stringify(persona.modelTurn?.request)).toContain('PINEAPPLE-PIZZA');
    const files = sessionExports(events, await records.optedOut());
    for (const text of [files.jsonl, files.markdown, JSON.stringify(files.inspect), JSON.stringify(files.researchCommons)]) {
      expect(text).not.toContain('PINEAPPLE-PIZZA');
      expect(text).not.toContain('Bobby Secretname');
      expect(text).not.toContain(bob.id);
    }
    // Others' words stay (the Inspect log holds interview questions only, so not channel chat).
    for (const text of [files.jsonl, files.markdown, JSON.stringify(files.researchCommons)]) expect(text).toContain('nothing secret');
    expect(files.jsonl).toContain('[withheld: this participant opted out]');
    expect(said.id).toBeDefined();
  });

  it('leaves no trace of an opted-out person anywhere: history from before the recording, /ask, names re-read from Discord, ids, re-runs', async () => {
    const carol = { id: '525252525252525252', username: 'carol_u', global_name: 'Carol Globalname' };
    const channelId = h.discord.addChannel({ name: 'before-and-after' });
    h.anthropicHost.setResponder(() => ({ text: 'Understood.' }));
    // Carol speaks before the recording starts; the models read it later as history.
    const early = await h.discord.userSays({ channelId, content: 'CAROL-EARLY-WORDS, and ok', author: carol });
    await h.routed(early.id);
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    // After a gateway restart the history is re-read from Discord, where names come out otherwise.
    await h.restartGateway();
    await h.command('ask', [opt('persona', 'opus'), opt('text', 'CAROL-ASKS-SOMETHING')], { channelId, author: carol });
    await h.settled();
    const said = await h.discord.userSays({ channelId, content: 'Opus, what did everyone say?' });
    await h.routed(said.id);
    await h.settled();
    await h.command('transcript', [{ type: 1, name: 'optout', options: [] }], { channelId, author: carol });
    await h.recordsWritten();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    const events = await records.events(session!.id);
    // The raw requests hold her words (what the models really read)…
    expect(JSON.stringify(events)).toContain('CAROL-EARLY-WORDS');
    expect(JSON.stringify(events)).toContain('CAROL-ASKS-SOMETHING');
    // …no export does, nor her names, her id, or any Discord id that leads to her messages.
    const files = sessionExports(events, await records.optedOut());
    const discordIds = [early.id, said.id, channelId, h.discord.guildId, carol.id];
    for (const text of [files.jsonl, files.markdown, JSON.stringify(files.inspect), JSON.stringify(files.researchCommons)]) {
      for (const leak of ['CAROL-EARLY-WORDS', 'CAROL-ASKS-SOMETHING', 'Carol Globalname', 'carol_u', ...discordIds]) expect(text, leak).not.toContain(leak);
    }
    expect(files.jsonl).toContain('[withheld: this participant opted out]');
  });
});

describe('a re-run of an interview with an opted-out interviewer', () => {
  it('does not put their questions to the models again', async () => {
    const dana = { id: '626262626262626262', username: 'dana', global_name: 'Dana' };
    h.discord.giveRole(dana.id, h.discord.addRole({ name: 'interviewers', permissions: ['ManageChannels'] }));
    h.anthropicHost.setResponder(() => ({ text: 'An answer.' }));
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus')] }], { author: dana });
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    await h.routed((await h.discord.userSays({ channelId: threadId, content: 'DANA-PRIVATE-QUESTION?', author: dana })).id);
    await h.interviewsSettled();
    await h.command('interview', [{ type: 1, name: 'end', options: [] }], { channelId: threadId, author: dana });
    await h.command('transcript', [{ type: 1, name: 'optout', options: [] }], { author: dana });
    const seen: string[] = [];
    h.anthropicHost.setResponder((req) => (seen.push(JSON.stringify(req.body)), { text: 'Again.' }));
    const rerun = await h.command('interview', [{ type: 1, name: 'rerun', options: [] }], { channelId: threadId });
    expect(rerun).toMatch(/Interview opened|no questions/);
    await h.interviewsSettled();
    expect(seen.join()).not.toContain('DANA-PRIVATE-QUESTION');
  });
});

describe('an answer with no text', () => {
  it('shows a notice saying why, which later turns do not read as the persona\'s words, and records the empty answer with its stop reason', async () => {
    const channelId = h.discord.addChannel({ name: 'declined' });
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    h.anthropicHost.setResponder(() => ({ text: '', stopReason: 'refusal' }));
    await h.discord.userSays({ channelId, content: 'Opus, say something you would not say' });
    const shown = await h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    expect(shown.content).toBe('*Opus gave no answer: the model declined to answer.*');
    await h.settled();

    await h.recordsWritten();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    const said = (await records.events(session!.id)).filter((e) => e.type === 'channel_message' && e.author.kind === 'persona');
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ text: '', discordMessageId: shown.id, modelTurn: { stopReason: 'refusal', answeredModel: expect.any(String) } });

    const asked: RecordedRequest[] = [];
    h.anthropicHost.setResponder((req) => {
      asked.push(req);
      return { text: 'Fine, then.' };
    });
    await h.discord.userSays({ channelId, content: 'Opus, then say something else' });
    await h.discord.nextMessage((m) => m.channel_id === channelId && m.content === 'Fine, then.');
    expect(JSON.stringify(asked[0]?.body)).toContain('say something you would not say');
    expect(JSON.stringify(asked[0]?.body)).not.toContain('gave no answer');
  });
});
