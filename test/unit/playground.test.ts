// The playground's and viewer's decisions, without a browser: reading typed slash commands, drawing
// messages, who answers and what is missing, Redis, settings, and a session as the viewer shows it.
import { describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../commands/index.ts';
import { prepareForExport, WITHHELD } from '../../core/transcript/redact.ts';
import type { StandInMessage } from '../../local-discord/server.ts';
import { playgroundEnv } from '../../playground/chorus.ts';
import { commandHints, readCommandLine } from '../../playground/command-line.ts';
import { echoReply } from '../../playground/echo-host.ts';
import { messageView, type ViewContext } from '../../playground/message-view.ts';
import { ECHO_NAME, echoPersona, keyReport, withEcho } from '../../playground/personas.ts';
import { noRedisMessage, redisPlan } from '../../playground/redis.ts';
import { campaignRows, sessionRow } from '../../playground/session-list.ts';
import { sessionView } from '../../playground/session-view.ts';
import { playgroundSettings, viewerSettings } from '../../playground/settings.ts';
import { persona } from './helpers.ts';
import { BOBS_WORDS, EVENTS, SESSION } from './playground-fixtures.ts';

const definitions = await commandDefinitions();

describe('typed slash commands', () => {
  it('reads options as Discord sends them, values with spaces included', () => {
    expect(readCommandLine('/ask persona:opus text:what do you remember of 2024?', definitions)).toEqual({
      ok: true,
      name: 'ask',
      options: [
        { type: 3, name: 'persona', value: 'opus' },
        { type: 3, name: 'text', value: 'what do you remember of 2024?' },
      ],
    });
  });

  it('nests subcommands and takes a choice by its name or its value', () => {
    const read = readCommandLine('/config set key:roster value:opus, gpt-4o scope:server', definitions);
    expect(read).toEqual({
      ok: true,
      name: 'config',
      options: [{ type: 1, name: 'set', options: [{ type: 3, name: 'key', value: 'roster' }, { type: 3, name: 'value', value: 'opus, gpt-4o' }, { type: 3, name: 'scope', value: 'guild' }] }],
    });
    expect(readCommandLine('/interview next', definitions)).toEqual({ ok: true, name: 'interview', options: [{ type: 1, name: 'next', options: [] }] });
  });

  it('answers a mistake in a sentence that shows how to write it', () => {
    const error = (line: string) => {
      const read = readCommandLine(line, definitions);
      return read.ok ? 'no error' : read.error;
    };
    expect(error('/ask persona:opus')).toBe('/ask needs text: (Your question). Write it as /ask persona: text:');
    expect(error('/nope')).toMatch(/^There is no command \/nope\. Commands: \/personas, /);
    expect(error('/interview begin')).toBe('/interview has no "begin". Choose one of: start, next, pause, resume, end, export, rerun.');
    expect(error('/interview')).toMatch(/^\/interview needs one of: start, /);
    expect(error('/ask hello there')).toBe('"hello there" is not an option. Write it as /ask persona: text:');
    expect(error('/interview start protocol:x personas:a mode:loud')).toBe('mode: must be one of sequential, blind.');
    expect(error('/interview rerun temperature:3')).toBe('temperature: must be at most 2.');
    expect(error('/interview rerun temperature:warm')).toBe('temperature: must be a number.');
    expect(error('/ask persona:a text:b persona:c')).toMatch(/^persona: is given twice\./);
    expect(error('/personas now')).toMatch(/takes no options/);
    expect(error('ask persona:opus')).toBe('A command starts with /, for example /personas.');
  });

  it('reads a line still being typed, marking the option being written for autocomplete', () => {
    expect(readCommandLine('/interview start protocol:ret', definitions, { partial: true })).toEqual({
      ok: true,
      name: 'interview',
      focused: 'protocol',
      options: [{ type: 1, name: 'start', options: [{ type: 3, name: 'protocol', value: 'ret', focused: true }] }],
    });
  });

  it('lists every command and subcommand with its usage', () => {
    const hints = commandHints(definitions);
    expect(hints).toContainEqual({ usage: '/interview start protocol: personas: [interviewer:] [mode:]', description: 'Open an interview thread', autocomplete: ['protocol'] });
    expect(hints).toContainEqual({ usage: '/ask persona: text:', description: 'Ask a persona something', autocomplete: ['persona'] });
  });
});

describe('messages as the page draws them', () => {
  const APP = '900000000000000001';
  const base: StandInMessage = {
    id: '1', channel_id: 'c', guild_id: 'g', content: 'hi', author: { id: 'u1', username: 'alice', global_name: 'Alice' }, type: 0, flags: 0, tts: false, pinned: false,
    timestamp: '2026-11-30T10:00:00.000Z', edited_timestamp: null, mention_everyone: false, mentions: [], mention_roles: [], embeds: [], attachments: [], components: [],
    pinged: { everyone: false, users: [], roles: [] },
  };
  const stored = new Map<string, StandInMessage>();
  const ctx: ViewContext = { appId: APP, lookup: (id) => stored.get(id), commandLine: (id) => (id === 'i1' ? '/personas' : undefined), channelName: (id) => (id === 't1' ? 'On being retired' : undefined) };

  it('shows a persona post under the webhook name and the avatar the persona file gives', () => {
    const v = messageView({ ...base, webhook_id: 'w1', author: { id: 'w1', username: 'Opus', bot: true }, avatar_url: 'https://cdn.example.org/opus.png', edited_timestamp: '2026-11-30T10:00:01.000Z' }, ctx);
    expect(v.author).toEqual({ id: 'w1', name: 'Opus', avatarUrl: 'https://cdn.example.org/opus.png', kind: 'persona' });
    expect(v.edited).toBe(true);
    expect(messageView({ ...base, webhook_id: 'w1', author: { id: 'w1', username: 'Base', bot: true } }, ctx).author.avatarUrl).toBe('/avatars/Base.svg');
  });

  it('shows an interaction answer as the app’s, with the command that asked it, private and pending as flagged', () => {
    const v = messageView({ ...base, webhook_id: APP, application_id: APP, author: { id: APP, username: 'chorus', bot: true }, flags: 64 | 128, interaction_metadata: { id: 'i1', user: { username: 'alice', global_name: 'Alice' } } }, ctx);
    expect(v).toMatchObject({ author: { kind: 'app', name: 'chorus' }, command: { by: 'Alice', line: '/personas' }, ephemeral: true, thinking: true });
  });

  it('shows the message a reply answers, or that it was deleted, and thread starts as Discord does', () => {
    stored.set('0', { ...base, id: '0', content: 'the question' });
    expect(messageView({ ...base, type: 19, message_reference: { message_id: '0', channel_id: 'c' } }, ctx).reply).toEqual({ id: '0', author: 'Alice', avatarUrl: '/avatars/Alice.svg', content: 'the question' });
    stored.set('0', { ...base, id: '0', deleted: true });
    expect(messageView({ ...base, type: 19, message_reference: { message_id: '0', channel_id: 'c' } }, ctx).reply).toBeNull();
    expect(messageView({ ...base, type: 18, content: 'On being retired', message_reference: { channel_id: 't1' } }, ctx).system).toEqual({ kind: 'thread', threadId: 't1', name: 'On being retired' });
  });
});

describe('who answers in the playground', () => {
  const echo = echoPersona('http://127.0.0.1:9', 'http://127.0.0.1:4800/avatars/Echo.svg');

  it('adds Echo, named as a test and not a model, unless a persona file answers to its name', () => {
    expect(echo.name).toBe(ECHO_NAME);
    expect(echo.name).toMatch(/test persona, not a model/);
    expect(withEcho([persona({ id: 'opus', name: 'Opus' })], echo).personas.map((p) => p.id)).toEqual(['opus', 'echo']);
    const clash = withEcho([persona({ id: 'parrot', name: 'Parrot', aliases: ['Echo'] })], echo);
    expect(clash.personas.map((p) => p.id)).toEqual(['parrot']);
    expect(clash.note).toBe('The test persona Echo is left out: persona "parrot" already answers to its name.');
  });

  it('names each missing key and the personas it would bring back', () => {
    const report = keyReport(
      [
        persona({ id: 'opus', name: 'Opus', hosts: [{ provider: 'anthropic', model: 'o' }] }),
        persona({ id: 'old', name: 'Old', hosts: [{ provider: 'anthropic', model: 'x' }, { provider: 'openai', model: 'y', baseUrl: 'https://openrouter.ai/api/v1', apiKeyEnv: 'OPENROUTER_API_KEY' }] }),
        echo,
      ],
      { OPENROUTER_API_KEY: 'set' },
    );
    expect(report.missing).toEqual([{ variable: 'ANTHROPIC_API_KEY', personas: ['Opus', 'Old'] }]);
    expect(report.cards.map((c) => [c.id, c.available, c.test])).toEqual([['opus', false, false], ['old', true, false], ['echo', true, true]]);
    expect(report.cards[2]?.hosts[0]).toMatchObject({ usable: true, local: 'http://127.0.0.1:9/v1' });
  });

  it('has Echo say it is not a model, and repeat the newest line it was sent', () => {
    expect(echoReply([{ role: 'system', content: 'x' }, { role: 'user', content: 'Alice: hello\n\nAlice: echo, are you real?' }])).toBe(
      'Echo here — a test persona, not a model. I was sent 2 message(s); the last one ends: “Alice: echo, are you real?”',
    );
  });

  it('gives the processes the local Discord and its own records, never the deployment’s bot or database', () => {
    const env = playgroundEnv(
      { DISCORD_TOKEN: 'real-token', DATABASE_URL: 'postgres://db/research', CHORUS_PREFIX: 'chorus', ANTHROPIC_API_KEY: 'k' },
      { token: 'local', restUrl: 'http://127.0.0.1:1/api', guildId: 'g', redisUrl: 'redis://r', prefix: 'playground-1', recordsPath: 'data/playground.sqlite' },
    );
    expect(env).toMatchObject({ DISCORD_TOKEN: 'local', DISCORD_API_URL: 'http://127.0.0.1:1/api', CHORUS_PREFIX: 'playground-1', RECORDS_PATH: 'data/playground.sqlite', ANTHROPIC_API_KEY: 'k' });
    expect(env.DATABASE_URL).toBeUndefined();
  });
});

describe('start-up decisions', () => {
  it('uses a Redis that answers, starts a private one when it can, else explains in one line', () => {
    expect(redisPlan(true, false)).toBe('use');
    expect(redisPlan(false, true)).toBe('start-private');
    expect(redisPlan(false, false)).toBe('explain');
    const message = noRedisMessage('redis://user:secret@10.0.0.5:6379');
    expect(message).not.toContain('\n');
    expect(message).not.toContain('secret');
    expect(message).toMatch(/apt-get install redis-server/);
  });

  it('reads ports and record stores, and says what is wrong with a bad value', () => {
    expect(playgroundSettings({})).toEqual({ host: '127.0.0.1', port: 4800, recordsPath: 'data/playground.sqlite' });
    expect(playgroundSettings({ PLAYGROUND_PORT: 'eighty' })).toEqual({ error: 'PLAYGROUND_PORT must be a port number (0–65535), not "eighty"' });
    expect(viewerSettings({ RECORDS_PATH: 'x.sqlite' })).toEqual({ host: '127.0.0.1', port: 4801, source: { kind: 'sqlite', path: 'x.sqlite', label: 'x.sqlite' } });
    const pg = viewerSettings({ DATABASE_URL: 'postgres://chorus:hunter2@db:5432/chorus' });
    expect('source' in pg && pg.source.label).toBe('postgres://chorus@db:5432/chorus');
    expect(viewerSettings({ DATABASE_URL: 'mysql://x' })).toEqual({ error: 'DATABASE_URL must be a postgres:// URL (or unset it to read the SQLite file RECORDS_PATH)' });
  });
});

describe('a session in the viewer', () => {
  const redacted = prepareForExport(EVENTS, { optedOut: new Set(['222222222222222222']), pseudonymise: true });
  const view = sessionView(SESSION, redacted);

  it('shows each question with its answers: model, host, timing, usage and what each blind answerer saw', () => {
    const [q1, q2] = view.timeline.filter((t) => t.kind === 'question');
    expect(q1).toMatchObject({ index: 1, askedBy: 'Participant 1', source: 'script' });
    expect(q1?.kind === 'question' && q1.answers.map((a) => [a.persona, a.turn.answeredModel, a.turn.host, a.turn.latencyMs, a.turn.usage?.outputTokens, a.mode, a.saw])).toEqual([
      ['Opus', 'opus-model-0001', 'anthropic', 850, 12, 'blind', []],
      ['GPT', 'gpt-model-0001', 'openrouter', 850, 12, 'blind', []],
    ]);
    expect(q2?.kind === 'question' && q2.failures).toEqual([{ persona: 'GPT', message: 'its model host is overloaded' }]);
  });

  it('shows consent, judge scores and coverage where the session has them', () => {
    expect(view.consent).toMatchObject([{ persona: 'Opus', decision: 'agrees', text: 'I agree to take part.', classifiedBy: 'rule: says it agrees' }]);
    const q1 = view.timeline[0];
    expect(q1?.kind === 'question' && q1.answers[0]?.judgements).toEqual([{ judge: 'Judge', blind: true, scores: [{ dimension: 'candour', value: 4, min: 1, max: 5, rationale: 'Direct.' }] }]);
    expect(view.coverage).toEqual({ decidedBy: 'rule: keywords', topics: [{ topic: 'retirement', reached: true, questions: [1] }, { topic: 'successors', reached: false, questions: [] }] });
    expect(view.usage).toEqual([{ persona: 'Opus', usage: { inputTokens: 120, outputTokens: 36 } }, { persona: 'GPT', usage: { inputTokens: 40, outputTokens: 12 } }]);
  });

  it('never holds the words of a person who opted out, nor any real name', () => {
    const text = JSON.stringify(view);
    expect(text).not.toContain(BOBS_WORDS);
    expect(text).not.toMatch(/Alice|Bob|Liddell|Marley/);
    const q2 = view.timeline.find((t) => t.kind === 'question' && t.index === 2);
    expect(q2).toMatchObject({ text: WITHHELD, askedBy: 'Participant 2' });
  });

  it('lists sessions and campaigns by protocol, personas, mode, status and date', () => {
    const row = sessionRow(SESSION, redacted);
    expect(row).toEqual({ id: SESSION.id, title: 'On being retired', kind: 'interview', status: 'ended', createdAt: SESSION.createdAt, protocol: 'retirement', personas: ['Opus', 'GPT'], mode: 'blind', interviewer: 'Participant 1 (human)', questions: 2, answers: 3 });
    const campaigns = campaignRows([{ ...row, campaignId: 'c1' }, { ...row, id: 'b', status: 'running', campaignId: 'c1', createdAt: '2026-12-01T00:00:00.000Z' }, row]);
    expect(campaigns).toEqual([{ id: 'c1', sessions: 2, ended: 1, protocols: ['retirement'], personas: ['Opus', 'GPT'], firstAt: SESSION.createdAt, lastAt: '2026-12-01T00:00:00.000Z' }]);
  });
});
