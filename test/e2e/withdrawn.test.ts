// A message changed or taken back before a worker took up its turn: the answer reads it as it now
// stands, and a deleted one is neither answered nor read.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { toJsonl } from '../../core/transcript/export-jsonl.ts';
import { toMarkdown } from '../../core/transcript/export-markdown.ts';
import { DELETED, prepareForExport } from '../../core/transcript/redact.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ inProcessWorkers: 0 });
  h.anthropicHost.setResponder(() => ({ text: 'an answer' }));
});
afterAll(async () => {
  await h?.close();
});

const opusPosts = (channelId: string) => h.discord.messages(channelId).filter((m) => m.webhook_id !== undefined && m.author.username === 'Opus');
const historyOf = async (channelId: string) => (await h.stores.history.recent(channelId, 20)).map((m) => m.content).join('\n');

describe('a message edited or deleted while its turn waits', () => {
  it('is answered as edited, and not at all when deleted', async () => {
    const edited = h.discord.addChannel({ name: 'edited' });
    const deleted = h.discord.addChannel({ name: 'deleted' });
    const typo = await h.discord.userSays({ channelId: edited, content: 'Opus, what colour are CATS?' });
    const secret = await h.discord.userSays({ channelId: deleted, content: 'Opus, my password is PINEAPPLE' });
    await Promise.all([h.routed(typo.id), h.routed(secret.id)]);
    await h.discord.userEdits(typo.id, 'Opus, what colour are DOGS?');
    await h.discord.userDeletes(secret.id);
    await vi.waitFor(async () => {
      expect(await historyOf(edited)).toContain('DOGS');
      expect(await historyOf(deleted)).toBe('');
    });

    h.addWorker(); // only now is either turn taken up
    await h.settled();
    const sent = h.anthropicHost.requests.map((r) => JSON.stringify(r.body));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain('DOGS');
    expect(sent[0]).not.toContain('CATS');
    expect(sent.join()).not.toContain('PINEAPPLE');
    expect(opusPosts(edited)).toHaveLength(1);
    expect(opusPosts(deleted)).toHaveLength(0);

    // The channel goes on as before.
    const next = h.discord.nextMessage((m) => m.channel_id === deleted && m.author.username === 'Opus');
    await h.discord.userSays({ channelId: deleted, content: 'Opus, hello again' });
    await next;
    await h.settled();
    expect(h.anthropicHost.requests.map((r) => JSON.stringify(r.body)).join()).not.toContain('PINEAPPLE');
  });
});

describe('a recorded channel', () => {
  it('records an edit only when the words changed, and exports no word of a deleted message', async () => {
    const channelId = h.discord.addChannel({ name: 'recorded' });
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    const said = await h.discord.userSays({ channelId, content: 'the meeting is at the old mill on Friday night' });
    await h.routed(said.id);
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    const events = () => records.events(session!.id);
    // Discord sends an update with the words unchanged for a pin or a link preview: not an edit.
    await h.discord.userEdits(said.id, 'the meeting is at the old mill on Friday night');
    await h.discord.userEdits(said.id, 'the meeting is at the old mill on Saturday night');
    await h.discord.userEdits(said.id, 'the meeting is at the old mill on Sunday night');
    // Edited back to words it had before: an edit too.
    await h.discord.userEdits(said.id, 'the meeting is at the old mill on Saturday night');
    await h.discord.userDeletes(said.id);
    await vi.waitFor(async () => expect((await events()).map((e) => e.type)).toContain('message_deleted'));
    expect((await events()).filter((e) => e.type === 'message_edited').map((e) => e.type === 'message_edited' && e.text)).toEqual([
      'the meeting is at the old mill on Saturday night',
      'the meeting is at the old mill on Sunday night',
      'the meeting is at the old mill on Saturday night',
    ]);
    const exported = prepareForExport(await events(), { optedOut: new Set() });
    for (const text of [toJsonl(exported), toMarkdown(exported)]) {
      expect(text).not.toMatch(/old mill/);
      expect(text).toContain(DELETED);
    }
  });

  it('learns of edits and deletions made while the gateway had no session, and exports no word of the deleted', async () => {
    const channelId = h.discord.addChannel({ name: 'changed-while-away' });
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    const secret = await h.discord.userSays({ channelId, content: 'my locker code is 4417' });
    const draft = await h.discord.userSays({ channelId, content: 'the first version' });
    await h.routed(draft.id);
    await h.recordsWritten();
    // The gateway is away; Discord will not resume its session (it begins a fresh one: READY).
    await h.stopGateway();
    await h.discord.userDeletes(secret.id);
    await h.discord.userEdits(draft.id, 'the second version');
    h.discord.invalidateSessions();
    await h.startGateway();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    await vi.waitFor(async () => expect((await records.events(session!.id)).map((e) => e.type)).toEqual(['session_started', 'channel_message', 'channel_message', 'message_edited', 'message_deleted']), { timeout: 15_000 });
    const events = await records.events(session!.id);
    expect(events.find((e) => e.type === 'message_edited')).toMatchObject({ discordMessageId: draft.id, text: 'the second version' });
    expect(events.find((e) => e.type === 'message_deleted')).toMatchObject({ discordMessageId: secret.id });
    const exported = prepareForExport(events, { optedOut: new Set() });
    for (const text of [toJsonl(exported), toMarkdown(exported)]) expect(text).not.toContain('4417');
    // What models read changed too.
    expect(await historyOf(channelId)).not.toContain('4417');
    expect(await historyOf(channelId)).toContain('the second version');
  });
});
