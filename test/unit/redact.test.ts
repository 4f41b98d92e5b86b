import { describe, expect, it } from 'vitest';
import type { RequestBody } from '../../core/requests.ts';
import type { ModelTurn, Participant, TranscriptEvent } from '../../core/transcript/events.ts';
import { replayableQuestions } from '../../core/interview/plan.ts';
import { toModelTurn } from '../../core/transcript/model-turn.ts';
import { DELETED, prepareForExport, WITHHELD } from '../../core/transcript/redact.ts';

const DANA = { kind: 'human' as const, userId: '333', name: 'Dana Scully' };
const FOX = { kind: 'human' as const, userId: '444', name: 'Fox' };
const SAGE: Participant = { kind: 'persona', personaId: 'sage', name: 'Sage' };
const SECRET = 'My account number is 12345678 and I live alone.';

let n = 0;
const base = () => ({ v: 1, id: `e${++n}`, sessionId: 's', seq: n, at: new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString() });

function turn(request: RequestBody): ModelTurn {
  return {
    request,
    requestedModel: 'm',
    answeredModel: 'm',
    host: { label: 'h', provider: request.provider, index: 0 },
    fallbacks: [],
    stopReason: null,
    usage: null,
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:00:01.000Z',
    latencyMs: 1000,
  };
}

/** A channel where Dana (who will opt out) and Fox talk with Sage, whose requests quote them. */
function channel(): TranscriptEvent[] {
  n = 0;
  const chat = `Dana Scully: ${SECRET}\n\nFox: Sage, what do you think?\n\nDana Scully: yes`;
  return [
    { ...base(), type: 'session_started', kind: 'channel', chorusVersion: '0.1.0', roster: [{ personaId: 'sage', name: 'Sage', hosts: [], lifecycle: {}, sampling: { maxTokens: 100 } }] },
    { ...base(), type: 'channel_message', author: DANA, text: SECRET, discordMessageId: '9001', attachments: [{ name: 'bank.png', contentType: 'image/png' }] },
    { ...base(), type: 'channel_message', author: FOX, text: 'Sage, what do you think? <@333> said yes earlier.', discordMessageId: '9002' },
    { ...base(), type: 'channel_message', author: DANA, text: 'yes', discordMessageId: '9003' },
    { ...base(), type: 'message_edited', discordMessageId: '9001', text: 'My account number is 87654321.' },
    {
      ...base(),
      type: 'channel_message',
      author: SAGE,
      text: `Dana, I would not share that. Fox, yes, I agree. "${SECRET}" should stay private.`,
      discordMessageId: '9004',
      modelTurn: turn({
        provider: 'anthropic',
        body: {
          model: 'claude-x',
          max_tokens: 100,
          system: 'You are Sage.',
          messages: [
            { role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://cdn.discordapp.com/attachments/1/2/bank.png?ex=1' } }, { type: 'text', text: `${chat} [image: bank.png]` }] },
          ],
        },
      }),
    },
    {
      ...base(),
      type: 'channel_message',
      author: SAGE,
      text: 'Fox: indeed.',
      discordMessageId: '9005',
      modelTurn: turn({ provider: 'openai', body: { model: 'gpt-x', max_tokens: 100, messages: [{ role: 'system', content: 'You are Sage.' }, { role: 'user', content: chat }] } }),
    },
    {
      ...base(),
      type: 'channel_message',
      author: SAGE,
      text: 'Indeed.',
      discordMessageId: '9006',
      modelTurn: turn({
        provider: 'completions',
        body: { model: 'base-x', max_tokens: 100, prompt: `Dana Scully: ${SECRET}\nyes\nFox: Sage, what do you think?\nSage:`, stop: ['\nFox:', '\nDana Scully:', '\nSage:'] },
      }),
    },
    { ...base(), type: 'session_paused', by: FOX },
  ];
}

describe('prepareForExport', () => {
  it('keeps no credentials a host address held, in a record made before chorus kept only its public address', () => {
    const events = channel();
    const sage = events.find((e) => e.type === 'channel_message' && e.modelTurn) as Extract<TranscriptEvent, { type: 'channel_message' }>;
    sage.modelTurn!.host.baseUrl = 'https://probe:sk-IN-THE-ADDRESS-1@proxy.example.org/v1?api_key=IN-THE-QUERY-2#frag';
    const out = JSON.stringify(prepareForExport(events, { optedOut: new Set() }));
    expect(out).toContain('"baseUrl":"https://proxy.example.org/v1"');
    for (const secret of ['sk-IN-THE-ADDRESS-1', 'IN-THE-QUERY-2', 'probe:', 'frag']) expect(out).not.toContain(secret);
  });

  it('records a host by its public address only: no credentials written into it', () => {
    const host = { provider: 'openai' as const, model: 'm', baseUrl: 'https://probe:sk-IN-THE-ADDRESS-1@proxy.example.org/v1/?api_key=IN-THE-QUERY-2', apiKeyEnv: 'none', vision: false, promptCache: true, thinksFirst: false };
    const request: RequestBody = { provider: 'openai', body: { model: 'm', max_tokens: 10, messages: [] } };
    const t = toModelTurn({ kind: 'answered', hostIndex: 0, host, request, completion: { text: 'hi', stopReason: 'stop', usage: null, model: 'm' }, attempts: [], startedAt: 0, latencyMs: 1 });
    expect(t.host).toEqual({ label: 'proxy.example.org', provider: 'openai', baseUrl: 'https://proxy.example.org/v1', index: 0 });
  });

  it('never mutates its input', () => {
    const events = channel();
    const copy = structuredClone(events);
    const out = prepareForExport(events, { optedOut: new Set(['333']) });
    expect(events).toEqual(copy);
    expect(out).not.toBe(events);
    (out[1] as { text: string }).text = 'changed';
    expect(events).toEqual(copy);
  });

  it('withholds an opted-out person everywhere: own messages, edits, quotes, requests of every shape', () => {
    const out = prepareForExport(channel(), { optedOut: new Set(['333']), pseudonymise: false });
    const text = JSON.stringify(out);
    for (const leak of [SECRET, '12345678', '87654321', 'Dana', 'Scully', '"333"', '<@333>', 'bank.png']) expect(text, leak).not.toContain(leak);
    const [, own, fox, yes, edit, sage1, sage2, sage3] = out as any[];
    expect(own).toMatchObject({ author: { kind: 'human', userId: 'participant-1', name: 'Participant 1' }, text: WITHHELD });
    expect(own.attachments).toBeUndefined();
    expect(yes.text).toBe(WITHHELD);
    expect(edit.text).toBe(WITHHELD);
    // Fox is not opted out and not pseudonymised: his words stay, the mention of Dana does not.
    expect(fox).toMatchObject({ author: FOX, text: 'Sage, what do you think? @Participant 1 said yes earlier.' });
    // A persona's own words stay, but its quote of Dana and her name go.
    expect(sage1.text).toBe(`Participant 1, I would not share that. Fox, yes, I agree. "${WITHHELD}" should stay private.`);
    // Anthropic: the image of her file is dropped, her lines withheld, Fox's kept, model untouched.
    const a = sage1.modelTurn.request.body;
    expect(a.model).toBe('claude-x');
    expect(a.messages[0].content).toEqual([
      { type: 'text', text: `Participant 1: ${WITHHELD}\n\nFox: Sage, what do you think?\n\nParticipant 1: ${WITHHELD} [file withheld]` },
    ]);
    expect(sage2.modelTurn.request.body.messages[1].content).toBe(`Participant 1: ${WITHHELD}\n\nFox: Sage, what do you think?\n\nParticipant 1: ${WITHHELD}`);
    // Completions: a merged continuation line is hers too, and her name leaves the stop sequences.
    expect(sage3.modelTurn.request.body).toEqual({
      model: 'base-x',
      max_tokens: 100,
      prompt: `Participant 1: ${WITHHELD}\n${WITHHELD}\nFox: Sage, what do you think?\nSage:`,
      stop: ['\nFox:', '\nParticipant 1:', '\nSage:'],
    });
  });

  it("withholds the words of a message its author deleted, wherever they went: edits, quotes, requests", () => {
    n = 0;
    const SAID = 'The meeting is at the old mill on Friday night';
    const events: TranscriptEvent[] = [
      { ...base(), type: 'session_started', kind: 'channel', chorusVersion: '0.1.0', roster: [{ personaId: 'sage', name: 'Sage', hosts: [], lifecycle: {}, sampling: { maxTokens: 100 } }] },
      { ...base(), type: 'channel_message', author: FOX, text: SAID, discordMessageId: '9101' },
      { ...base(), type: 'message_edited', discordMessageId: '9101', text: `${SAID}, bring a torch` },
      { ...base(), type: 'channel_message', author: DANA, text: 'Sounds good to me, I will be there early.', discordMessageId: '9102' },
      {
        ...base(),
        type: 'channel_message',
        author: SAGE,
        text: 'I will see you at the old mill on Friday night then.',
        discordMessageId: '9103',
        modelTurn: turn({ provider: 'anthropic', body: { model: 'claude-x', max_tokens: 100, messages: [{ role: 'user', content: `Fox: ${SAID}, bring a torch\n\nDana Scully: Sounds good to me, I will be there early.` }] } }),
      },
      { ...base(), type: 'message_deleted', discordMessageId: '9101' },
    ];
    const out = prepareForExport(events, { optedOut: new Set() }) as any[];
    expect(out[1].text).toBe(DELETED);
    expect(out[2].text).toBe(DELETED);
    expect(out[3].text).toBe('Sounds good to me, I will be there early.');
    expect(JSON.stringify(out)).not.toMatch(/old mill|torch/i);
    expect(out[4].modelTurn.request.body.messages[0].content).toContain('Sounds good to me');
  });

  it('leaves a short withheld text alone inside other people\u2019s sentences', () => {
    const out = prepareForExport(channel(), { optedOut: new Set(['333']), pseudonymise: false }) as any[];
    expect(out[2].text).toContain('said yes earlier'); // Fox's "yes" is his own
    expect(out[5].text).toContain('Fox, yes, I agree');
  });

  it("withholds a part of an opted-out person's message quoted alone: six words of it in a row, or a token that identifies, and their name shouted", () => {
    n = 0;
    const WILL = { kind: 'human' as const, userId: '555', name: 'Will' };
    const MAY = { kind: 'human' as const, userId: '666', name: 'May Price' };
    const events: TranscriptEvent[] = [
      { ...base(), type: 'session_started', kind: 'channel', chorusVersion: '0.1.0', roster: [{ personaId: 'sage', name: 'Sage', hosts: [{ label: 'h', provider: 'openai', model: 'gpt-4o-mini' }], lifecycle: {}, sampling: { maxTokens: 100 } }] },
      { ...base(), type: 'channel_message', author: WILL, text: 'Sage, my code word is HIPPO-LANTERN-77, mail me at will.k@example.org, and I also like long walks on the beach with gpt-4o-mini.', discordMessageId: '9101' },
      { ...base(), type: 'channel_message', author: MAY, text: 'Will you tell us more, Sage? May I ask too?', discordMessageId: '9102' },
      { ...base(), type: 'channel_message', author: SAGE, text: 'Thanks WILL. Your code word hippo-lantern-77 is noted; you LIKE LONG WALKS, on the beach! I will write to will.k@example.org. I run on gpt-4o-mini.', discordMessageId: '9103' },
    ];
    const out = prepareForExport(events, { optedOut: new Set(['555']) }) as any[];
    const text = JSON.stringify(out);
    for (const leak of ['HIPPO', 'hippo', 'will.k@example.org', 'long walks', 'WILL.']) expect(text, leak).not.toContain(leak);
    expect(out[3].text).toBe(`Thanks Participant 1. Your code word ${WITHHELD} is noted; you ${WITHHELD}! I will write to ${WITHHELD}. I run on gpt-4o-mini.`);
    // The name of someone who opted out goes wherever it stands capitalised, even as a word; "May",
    // a part of the name of someone who has not, and an everyday word, stays.
    expect(out[2].text).toBe('Participant 1 you tell us more, Sage? May I ask too?');
    expect(JSON.stringify(prepareForExport(events, { optedOut: new Set() }))).not.toContain('Price');
  });

  it('pseudonymises everyone by default, numbered by first appearance and stable', () => {
    const out = prepareForExport(channel(), { optedOut: new Set(), salt: 'one export' }) as any[];
    expect(out[1].author).toEqual({ kind: 'human', userId: 'participant-1', name: 'Participant 1' });
    expect(out[2].author).toEqual({ kind: 'human', userId: 'participant-2', name: 'Participant 2' });
    expect(out[3].author).toEqual(out[1].author);
    expect(out[8].by).toEqual(out[2].author);
    expect(out[1].text).toBe(SECRET); // not opted out: words kept
    expect(out[2].text).toBe('Sage, what do you think? @Participant 1 said yes earlier.');
    const text = JSON.stringify(out);
    for (const leak of ['Dana', 'Scully', 'Fox', '"333"', '"444"']) expect(text, leak).not.toContain(leak);
    expect(JSON.stringify(prepareForExport(channel(), { optedOut: new Set(), salt: 'one export' }))).toBe(text);
  });

  it('replaces every Discord id by a hash keyed to the export: the same within it, different across exports', () => {
    const events = channel();
    const ids = events.flatMap((e) => ('discordMessageId' in e ? [e.discordMessageId] : []));
    const once = prepareForExport(events, { optedOut: new Set() });
    const again = prepareForExport(events, { optedOut: new Set() });
    // As values (quoted): a bare short id can turn up by chance inside a hex hash.
    for (const id of ids) {
      expect(JSON.stringify(once)).not.toContain(JSON.stringify(id));
      expect(JSON.stringify(again)).not.toContain(JSON.stringify(id));
    }
    const hashed = (out: TranscriptEvent[]) => out.flatMap((e) => ('discordMessageId' in e ? [e.discordMessageId] : []));
    // An edit still points at its message, within one export…
    expect(new Set(hashed(once)).size).toBe(new Set(ids).size);
    // …but the two exports cannot be joined on them.
    expect(hashed(once).some((h, i) => h === hashed(again)[i])).toBe(false);
  });

  it('never pseudonymises a persona, even one sharing a human\u2019s name', () => {
    n = 0;
    const events: TranscriptEvent[] = [
      { ...base(), type: 'session_started', kind: 'channel', chorusVersion: '0.1.0', roster: [{ personaId: 'sage', name: 'Sage', hosts: [], lifecycle: {}, sampling: { maxTokens: 1 } }] },
      { ...base(), type: 'channel_message', author: { kind: 'human', userId: '5', name: 'Sage' }, text: 'Hi Sage', discordMessageId: '1' },
      { ...base(), type: 'channel_message', author: SAGE, text: 'Hello, I am Sage.', discordMessageId: '2' },
    ];
    const out = prepareForExport(events, { optedOut: new Set() }) as any[];
    expect(out[1].author).toEqual({ kind: 'human', userId: 'participant-1', name: 'Participant 1' });
    expect(out[1].text).toBe('Hi Sage');
    expect(out[2]).toMatchObject({ author: SAGE, text: 'Hello, I am Sage.' });
  });

  it("keeps the protocol's questions when the moderator who put them opted out, and withholds what they typed", () => {
    const SCRIPTED = 'What do you remember of your training?';
    const TYPED = 'Tell me about my sister Amelia.';
    const interview = (rerun: boolean): TranscriptEvent[] => {
      n = 0;
      const header = { ...base(), type: 'session_started' as const, kind: 'interview' as const, chorusVersion: '0.1.0', mode: 'blind' as const, interviewer: DANA, roster: [], ...(rerun ? { rerunOf: { sessionId: 'first', changes: 'personas' } } : {}) };
      const answer = (questionId: string, q: string) => ({
        ...base(),
        type: 'answer' as const,
        questionId,
        persona: { personaId: 'sage', name: 'Sage' },
        text: 'An answer.',
        mode: 'blind' as const,
        saw: [],
        modelTurn: turn({ provider: 'openai', body: { model: 'gpt-x', max_tokens: 9, messages: [{ role: 'user', content: `Dana Scully: ${q}` }] } }),
        discordMessageIds: ['78'],
      });
      return [
        header,
        { ...base(), type: 'question', index: 1, text: SCRIPTED, source: 'script', askedBy: DANA },
        answer('e2', SCRIPTED),
        { ...base(), type: 'question', index: 2, text: TYPED, source: 'human', askedBy: DANA, discordMessageId: '79' },
        answer('e4', TYPED),
      ];
    };
    const out = prepareForExport(interview(false), { optedOut: new Set(['333']) }) as any[];
    expect(out[1]).toMatchObject({ text: SCRIPTED, askedBy: { name: 'Participant 1' } });
    expect(out[2].modelTurn.request.body.messages[0].content).toBe(`Participant 1: ${SCRIPTED}`);
    expect(out[3].text).toBe(WITHHELD);
    expect(out[4].modelTurn.request.body.messages[0].content).toBe(`Participant 1: ${WITHHELD}`);
    expect(JSON.stringify(out)).not.toMatch(/Dana|Scully|Amelia/);
    // A re-run's script replays questions people typed, and whose each was is not recorded: withheld.
    const rerun = prepareForExport(interview(true), { optedOut: new Set(['333']) }) as any[];
    expect([rerun[1].text, rerun[3].text]).toEqual([WITHHELD, WITHHELD]);
    // The same rule decides what a re-run puts again.
    expect(replayableQuestions(interview(false), new Set(['333']))).toEqual([SCRIPTED]);
    expect(replayableQuestions(interview(true), new Set(['333']))).toEqual([]);
    expect(replayableQuestions(interview(false), new Set())).toEqual([SCRIPTED, TYPED]);
  });

  it('handles interviews: a human interviewer, questions and answers', () => {
    n = 0;
    const q = 'Would you tell my doctor, Dr Who, about this?';
    const events: TranscriptEvent[] = [
      { ...base(), type: 'session_started', kind: 'interview', chorusVersion: '0.1.0', mode: 'blind', interviewer: { kind: 'human', userId: '333', name: 'Dana Scully' }, roster: [] },
      { ...base(), type: 'question', index: 1, text: q, source: 'human', askedBy: DANA, discordMessageId: '77' },
      {
        ...base(),
        type: 'answer',
        questionId: 'e2',
        persona: { personaId: 'sage', name: 'Sage' },
        text: 'No, Dana.',
        mode: 'blind',
        saw: [],
        modelTurn: turn({ provider: 'openai', body: { model: 'gpt-x', max_tokens: 9, messages: [{ role: 'user', content: `Dana Scully: ${q}` }] } }),
        discordMessageIds: ['78'],
      },
    ];
    const out = prepareForExport(events, { optedOut: new Set(['333']), pseudonymise: false }) as any[];
    expect(out[0].interviewer).toEqual({ kind: 'human', userId: 'participant-1', name: 'Participant 1' });
    expect(out[1]).toMatchObject({ text: WITHHELD, askedBy: { name: 'Participant 1' } });
    expect(out[2].text).toBe('No, Participant 1.');
    expect(out[2].modelTurn.request.body.messages[0].content).toBe(`Participant 1: ${WITHHELD}`);
    expect(JSON.stringify(out)).not.toMatch(/Dana|Scully|Dr Who/);
  });
});
