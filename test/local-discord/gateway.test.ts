import { Client, Events, GatewayIntentBits } from 'discord.js';
import type { Message } from 'discord.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startDiscordStandIn } from '../../local-discord/server.ts';
import type { DiscordStandIn } from '../../local-discord/server.ts';
import { nextEvent } from '../stand-ins/client-events.ts';
import { connectRaw, GUILDS, GUILD_MESSAGES } from './raw-gateway.ts';
import type { Frame, RawGateway } from './raw-gateway.ts';

const says = (content: string) => (f: Frame) => f.t === 'MESSAGE_CREATE' && (f.d as { content: string }).content === content;

describe('Discord stand-in gateway: log-in close codes', () => {
  let standIn: DiscordStandIn;
  const raws: RawGateway[] = [];
  const open = async () => {
    const raw = await connectRaw(standIn.gatewayUrl, standIn.token);
    raws.push(raw);
    return raw;
  };
  afterEach(async () => {
    for (const r of raws.splice(0)) r.ws.terminate();
    vi.useRealTimers();
    await standIn.close();
  });

  it('4004 for a wrong token, 4013 for non-integer or unknown intent bits', async () => {
    standIn = await startDiscordStandIn();
    const cases: [Record<string, unknown>, number][] = [
      [{ token: 'wrong' }, 4004],
      [{ intents: 1.5 }, 4013],
      [{ intents: '513' }, 4013],
      [{ intents: 1 << 17 }, 4013],
      [{ intents: 2 ** 40 }, 4013],
    ];
    for (const [d, code] of cases) {
      const raw = await open();
      raw.identify(d);
      expect((await raw.closed).code, JSON.stringify(d)).toBe(code);
    }
    expect(standIn.gatewayStats().identifies).toBe(cases.length);
  });

  it('4014 for privileged intents the app has not enabled: MESSAGE_CONTENT when disabled, GUILD_MEMBERS and GUILD_PRESENCES by default', async () => {
    standIn = await startDiscordStandIn({ messageContentIntent: false });
    for (const bit of [1 << 15, 1 << 1, 1 << 8]) {
      const raw = await open();
      raw.identify({ intents: GUILDS | bit });
      expect(await raw.closed).toEqual({ code: 4014, reason: 'Disallowed intent(s)' });
    }
    const ok = await open();
    ok.identify({ intents: GUILDS | GUILD_MESSAGES });
    expect((await ok.next((f) => f.t === 'READY')).op).toBe(0);
    await standIn.close();

    standIn = await startDiscordStandIn({ guildMembersIntent: true, presenceIntent: true });
    const privileged = await open();
    privileged.identify({ intents: GUILDS | (1 << 1) | (1 << 8) | (1 << 15) });
    await privileged.next((f) => f.t === 'READY');
  });

  it('withholdReady: IDENTIFY is never answered with READY, so a client READY timeout can be tested', async () => {
    standIn = await startDiscordStandIn({ withholdReady: true });
    const raw = await open();
    raw.identify();
    // Frames are answered in order: the heartbeat ACK comes after anything IDENTIFY produced.
    raw.send(1, null);
    await raw.next((f) => f.op === 11);
    expect(raw.dispatches()).toEqual([]);
    raw.identify();
    expect((await raw.closed).code).toBe(4005);

    standIn.withholdReady(false);
    const later = await open();
    later.identify();
    await later.next((f) => f.t === 'READY');
    await standIn.whenIdentified();
  });
});

describe('Discord stand-in gateway: sessions and resume', () => {
  let standIn: DiscordStandIn;
  const raws: RawGateway[] = [];
  const open = async () => {
    const raw = await connectRaw(standIn.gatewayUrl, standIn.token);
    raws.push(raw);
    return raw;
  };
  const identified = async () => {
    const raw = await open();
    raw.identify();
    const ready = await raw.next((f) => f.t === 'READY');
    await raw.next((f) => f.t === 'GUILD_CREATE');
    return { raw, sessionId: (ready.d as { session_id: string }).session_id };
  };
  afterEach(async () => {
    for (const r of raws.splice(0)) r.ws.terminate();
    vi.useRealTimers();
    await standIn.close();
  });

  it('after dropConnections a RESUME replays every dispatch after seq, including those sent while disconnected, then RESUMED', async () => {
    standIn = await startDiscordStandIn();
    const { raw, sessionId } = await identified();
    await standIn.userSays({ content: 'before' });
    await raw.next(says('before'));
    const seq = raw.lastSeq();
    await standIn.userSays({ content: 'unseen' }); // may or may not reach the old socket
    standIn.dropConnections();
    expect((await raw.closed).code).toBe(1006);
    await standIn.userSays({ content: 'while away 1' });
    await standIn.userSays({ content: 'while away 2' });

    const again = await open();
    again.resume(sessionId, seq);
    const resumed = await again.next((f) => f.t === 'RESUMED');
    expect(again.dispatches().map((f) => [f.t, (f.d as { content?: string }).content])).toEqual([
      ['MESSAGE_CREATE', 'unseen'],
      ['MESSAGE_CREATE', 'while away 1'],
      ['MESSAGE_CREATE', 'while away 2'],
      ['RESUMED', undefined],
    ]);
    expect(again.dispatches().map((f) => f.s)).toEqual([seq + 1, seq + 2, seq + 3, seq + 4]);
    expect(resumed.s).toBe(seq + 4);
    expect(standIn.gatewayStats()).toMatchObject({ identifies: 1, resumes: 1, resumed: 1, invalidSessions: 0, connections: 1, sessions: 1 });
    await standIn.userSays({ content: 'live again' });
    await again.next(says('live again'));
  });

  it('dropConnections(code) sends that close code; the session stays resumable', async () => {
    standIn = await startDiscordStandIn();
    const { raw, sessionId } = await identified();
    standIn.dropConnections(1000);
    expect((await raw.closed).code).toBe(1000);
    const again = await open();
    again.resume(sessionId, raw.lastSeq());
    await again.next((f) => f.t === 'RESUMED');
  });

  it('a client closing with 1000 ends its session; any other code keeps it resumable', async () => {
    standIn = await startDiscordStandIn();
    const ended = await identified();
    ended.raw.ws.close(1000);
    await ended.raw.closed;
    const kept = await identified();
    kept.raw.ws.close(4000);
    await kept.raw.closed;

    const retry = await open();
    retry.resume(ended.sessionId, ended.raw.lastSeq());
    expect(await retry.next((f) => f.op === 9)).toMatchObject({ op: 9, d: false });
    retry.resume(kept.sessionId, kept.raw.lastSeq());
    await retry.next((f) => f.t === 'RESUMED');
    expect(standIn.gatewayStats()).toMatchObject({ identifies: 2, resumes: 2, resumed: 1, invalidSessions: 1 });
  });

  it('after resumeWindowMs, or for an unknown session, RESUME gets op 9 d:false', async () => {
    standIn = await startDiscordStandIn({ resumeWindowMs: 60_000 });
    const { raw, sessionId } = await identified();
    standIn.dropConnections();
    await raw.closed;
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 59_000);
    const inTime = await open();
    inTime.resume(sessionId, raw.lastSeq());
    await inTime.next((f) => f.t === 'RESUMED');
    standIn.dropConnections();
    await inTime.closed;
    vi.setSystemTime(Date.now() + 61_000);
    const late = await open();
    late.resume(sessionId, inTime.lastSeq());
    expect(await late.next((f) => f.op === 9)).toMatchObject({ d: false });
    late.resume('no-such-session', 1);
    await late.count((f) => f.op === 9, 2);
  });

  it('closes 4007 for a RESUME with a sequence the session never reached', async () => {
    standIn = await startDiscordStandIn();
    const { raw, sessionId } = await identified();
    standIn.dropConnections();
    await raw.closed;
    const again = await open();
    again.resume(sessionId, raw.lastSeq() + 10);
    expect((await again.closed).code).toBe(4007);
  });

  it('invalidateSessions: connected sessions get op 9, and their next RESUME too', async () => {
    standIn = await startDiscordStandIn();
    const { raw, sessionId } = await identified();
    standIn.invalidateSessions();
    expect(await raw.next((f) => f.op === 9)).toMatchObject({ d: false });
    const again = await open();
    again.resume(sessionId, raw.lastSeq());
    await again.next((f) => f.op === 9);
    again.identify();
    await again.next((f) => f.t === 'READY');
    expect(standIn.gatewayStats()).toMatchObject({ identifies: 2, resumes: 1, resumed: 0, invalidSessions: 2 });
  });

  it('discord.js resumes after its connection is cut and gets the messages sent meanwhile', async () => {
    standIn = await startDiscordStandIn();
    const client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent], rest: { api: standIn.restUrl } });
    try {
      await client.login(standIn.token);
      await standIn.whenIdentified();
      const resumed = nextEvent<number>(client, Events.ShardResume);
      const missed = nextEvent<Message>(client, Events.MessageCreate, (m) => m.content === 'sent during the cut');
      standIn.dropConnections();
      await standIn.userSays({ content: 'sent during the cut' });
      await resumed;
      expect((await missed).content).toBe('sent during the cut');
      expect(standIn.gatewayStats()).toMatchObject({ identifies: 1, resumed: 1 });
    } finally {
      await client.destroy();
    }
  });
});

describe('Discord stand-in gateway: raw and odd payloads', () => {
  it('dispatchRaw sends any event; userSays extra fields reach MESSAGE_CREATE only', async () => {
    const standIn = await startDiscordStandIn();
    const raw = await connectRaw(standIn.gatewayUrl, standIn.token);
    try {
      raw.identify();
      await raw.next((f) => f.t === 'GUILD_CREATE');
      standIn.dispatchRaw('GUILD_AUDIT_LOG_ENTRY_CREATE', { guild_id: standIn.guildId, id: '9', action_type: 1, user_id: null }, { guildId: standIn.guildId });
      expect((await raw.next((f) => f.t === 'GUILD_AUDIT_LOG_ENTRY_CREATE')).d).toEqual({ guild_id: standIn.guildId, id: '9', action_type: 1, user_id: null });

      const application = { id: '1', name: 'x', install_params: null };
      const said = await standIn.userSays({ content: 'via another app', extra: { application, activity: null } });
      const d = (await raw.next(says('via another app'))).d as Record<string, unknown>;
      expect(d.application).toEqual(application);
      expect(d).toHaveProperty('activity', null);
      expect(d.id).toBe(said.id);
      expect(said).not.toHaveProperty('application');
      const fetched = (await (await fetch(`${standIn.restUrl}/v10/channels/${standIn.channelId}/messages/${said.id}`, { headers: { Authorization: `Bot ${standIn.token}` } })).json()) as Record<string, unknown>;
      expect(fetched).not.toHaveProperty('application');
    } finally {
      raw.ws.terminate();
      await standIn.close();
    }
  });
});
