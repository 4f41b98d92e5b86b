// REST routes of the stand-in: channels, threads, messages, typing, webhook management.
import { randomBytes } from 'node:crypto';
import { Intents, lastMessageId, seen } from './core.ts';
import type { Core } from './core.ts';
import { wireGuildMember } from './guilds.ts';
import { createMessage, deleteMessage, editMessage, toWire } from './messages.ts';
import { isThread, wireChannel, wireUser, wireWebhook } from './model.ts';
import type { StandInMessage, StandInWebhook } from './model.ts';
import { DEFAULT, fail, formError, ID, PER_CHANNEL } from './routing.ts';
import type { Helpers, RouteFn } from './routing.ts';
import { setArchived, startThread } from './system.ts';

export function channelRoutes(core: Core, route: RouteFn, h: Helpers): void {
  // Channels and messages.
  route('GET', `/channels/${ID}`, 'bot', DEFAULT, ({ params }) => {
    const c = h.channel(params[0] ?? '');
    return { status: 200, body: wireChannel(c, lastMessageId(core, c.id)) };
  });
  // Modify a thread: only `archived` is modelled (unarchiving an unlocked thread takes Send
  // Messages in Threads, as sending there would; a locked one, Manage Threads).
  route('PATCH', `/channels/${ID}`, 'bot', DEFAULT, ({ params, body }) => {
    const c = h.channel(params[0] ?? '');
    if (!isThread(c)) fail(400, 50024, 'Cannot execute action on this channel type');
    if (typeof body.archived === 'boolean') {
      if (!body.archived) h.requirePermission(c.id, c.locked ? 'ManageThreads' : 'SendMessagesInThreads');
      setArchived(core, c, body.archived);
    }
    return { status: 200, body: wireChannel(c, lastMessageId(core, c.id)) };
  });
  // Start a thread without a message: type 11 public, 12 private (Discord's default when type is absent).
  route('POST', `/channels/${ID}/threads`, 'bot', DEFAULT, ({ params, body }) => {
    const parent = h.channel(params[0]!);
    if (parent.type !== 0) fail(400, 50024, 'Cannot execute action on this channel type');
    const type = body.type === undefined || body.type === null ? 12 : body.type;
    if (type !== 11 && type !== 12) formError('type', 'BASE_TYPE_CHOICES', 'Value must be one of {11, 12}.');
    const name = typeof body.name === 'string' ? body.name : '';
    if (!name || name.length > 100) formError('name', 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
    h.requirePermission(parent.id, type === 11 ? 'CreatePublicThreads' : 'CreatePrivateThreads');
    const { thread } = startThread(core, { parentId: parent.id, name, type: type as 11 | 12, author: core.botUser });
    return { status: 201, body: wireChannel(thread, null) };
  });
  route('GET', `/channels/${ID}/messages`, 'bot', DEFAULT, ({ params, query }) => {
    const c = h.channel(params[0] ?? '');
    const limit = Math.min(100, Math.max(1, Number(query.get('limit') ?? 50) || 50));
    const all = (core.channelMessages.get(c.id) ?? []).filter((m) => !m.deleted);
    const before = query.get('before');
    const after = query.get('after');
    let picked: StandInMessage[];
    if (after) picked = all.filter((m) => BigInt(m.id) > BigInt(after)).slice(0, limit);
    else picked = (before ? all.filter((m) => BigInt(m.id) < BigInt(before)) : all).slice(-limit);
    // Discord always answers newest first.
    return { status: 200, body: picked.reverse().map((m) => toWire(core, m)) };
  });
  route('GET', `/channels/${ID}/messages/${ID}`, 'bot', DEFAULT, ({ params }) => {
    h.channel(params[0] ?? '');
    return { status: 200, body: toWire(core, h.message(params[0] ?? '', params[1] ?? '')) };
  });
  route('POST', `/channels/${ID}/messages`, 'bot', PER_CHANNEL, ({ params, body }) => {
    const c = h.channel(params[0] ?? '');
    if (c.type === 4) fail(400, 50008, 'Cannot send messages in a non-text channel');
    // Threads do not inherit Send Messages; they need Send Messages in Threads.
    h.requirePermission(c.id, isThread(c) ? 'SendMessagesInThreads' : 'SendMessages');
    if (c.archived) fail(400, 50083, 'Thread is archived');
    const content = h.checkContent(body, true);
    const ref = body.message_reference as { message_id?: string; fail_if_not_exists?: boolean } | undefined;
    let replyTo: string | undefined;
    if (ref?.message_id) {
      const target = core.messageById.get(ref.message_id);
      if (target && !target.deleted && target.channel_id === c.id) replyTo = target.id;
      else if (ref.fail_if_not_exists !== false) formError('message_reference', 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', 'Unknown message');
    }
    const msg = createMessage(core, {
      channelId: c.id,
      content,
      author: core.botUser,
      replyTo,
      allowedMentions: h.allowedMentions(body),
      embeds: body.embeds as unknown[] | undefined,
      flags: typeof body.flags === 'number' ? body.flags : 0,
      nonce: body.nonce as string | undefined,
    });
    return { status: 200, body: toWire(core, msg) };
  });
  route('PATCH', `/channels/${ID}/messages/${ID}`, 'bot', PER_CHANNEL, ({ params, body }) => {
    if (h.channel(params[0] ?? '').archived) fail(400, 50083, 'Thread is archived');
    const m = h.message(params[0] ?? '', params[1] ?? '');
    if (m.author.id !== core.botUser.id || m.webhook_id) fail(403, 50005, 'Cannot edit a message authored by another user');
    const content = body.content === undefined ? undefined : h.checkContent(body, false);
    editMessage(core, m, { content, allowedMentions: h.allowedMentions(body), embeds: body.embeds as unknown[] | undefined });
    return { status: 200, body: toWire(core, m) };
  });
  route('DELETE', `/channels/${ID}/messages/${ID}`, 'bot', DEFAULT, ({ params }) => {
    deleteMessage(core, h.message(params[0] ?? '', params[1] ?? ''));
    return { status: 204 };
  });
  route('POST', `/channels/${ID}/typing`, 'bot', DEFAULT, ({ params }) => {
    const c = h.channel(params[0] ?? '');
    if (c.type === 4) fail(400, 50008, 'Cannot send messages in a non-text channel');
    h.requirePermission(c.id, isThread(c) ? 'SendMessagesInThreads' : 'SendMessages');
    const guild = core.guilds.get(c.guild_id);
    core.dispatch('TYPING_START', {
      channel_id: c.id,
      guild_id: c.guild_id,
      user_id: core.botUser.id,
      timestamp: Math.floor(Date.now() / 1000),
      member: { ...(guild ? wireGuildMember(guild, core.botUser.id) : {}), user: wireUser(core.botUser) },
    }, { intent: Intents.GuildMessageTyping });
    seen(core, { kind: 'typing', channelId: c.id, userId: core.botUser.id });
    return { status: 204 };
  });

  // Webhook management (bot token).
  route('GET', `/channels/${ID}/webhooks`, 'bot', DEFAULT, ({ params }) => {
    const c = h.channel(params[0] ?? '');
    if (c.type !== 0) fail(400, 50024, 'Cannot execute action on this channel type');
    h.requirePermission(c.id, 'ManageWebhooks');
    const hooks = [...core.webhooks.values()].filter((w) => w.channel_id === c.id);
    return { status: 200, body: hooks.map((w) => wireWebhook(w, c.guild_id, core.applicationId, core.botUser)) };
  });
  route('POST', `/channels/${ID}/webhooks`, 'bot', DEFAULT, ({ params, body }) => {
    const c = h.channel(params[0] ?? '');
    if (c.type !== 0) fail(400, 50024, 'Cannot execute action on this channel type');
    h.requirePermission(c.id, 'ManageWebhooks');
    const name = h.checkName('name', body.name, true) ?? '';
    if ([...core.webhooks.values()].filter((w) => w.channel_id === c.id).length >= 15) {
      fail(400, 30007, 'Maximum number of webhooks reached (15)');
    }
    const w: StandInWebhook = { id: core.nextId(), token: randomBytes(34).toString('base64url'), name, avatar: null, channel_id: c.id };
    core.webhooks.set(w.id, w);
    core.dispatch('WEBHOOKS_UPDATE', { guild_id: c.guild_id, channel_id: c.id }, { intent: Intents.GuildWebhooks });
    return { status: 200, body: wireWebhook(w, c.guild_id, core.applicationId, core.botUser) };
  });
  route('GET', `/webhooks/${ID}`, 'bot', DEFAULT, ({ params }) => {
    const w = core.webhooks.get(params[0] ?? '') ?? fail(404, 10015, 'Unknown Webhook');
    return { status: 200, body: wireWebhook(w, core.channels.get(w.channel_id)?.guild_id ?? '', core.applicationId, core.botUser) };
  });
  route('DELETE', `/webhooks/${ID}`, 'bot', DEFAULT, ({ params }) => {
    if (!core.webhooks.delete(params[0] ?? '')) fail(404, 10015, 'Unknown Webhook');
    return { status: 204 };
  });
}
