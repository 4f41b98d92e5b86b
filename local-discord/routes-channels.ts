// REST routes of the stand-in: gateway and identity, channels, messages, typing, webhook management.
import { randomBytes } from 'node:crypto';
import { addChannel, createMessage, deleteMessage, editMessage, lastMessageId, memberRoles, toWire } from './core.ts';
import type { Core } from './core.ts';
import { wireChannel, wireMember, wireUser, wireWebhook } from './model.ts';
import type { StandInMessage, StandInWebhook } from './model.ts';
import { DEFAULT, fail, formError, ID, PER_CHANNEL } from './routing.ts';
import type { Helpers, RouteFn } from './routing.ts';

export function channelRoutes(core: Core, route: RouteFn, h: Helpers, gatewayUrl: () => string): void {
  // Gateway and identity.
  route('GET', '/gateway/bot', 'bot', DEFAULT, () => ({
    status: 200,
    body: {
      url: gatewayUrl(),
      shards: 1,
      session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
    },
  }));
  route('GET', '/gateway', 'none', DEFAULT, () => ({ status: 200, body: { url: gatewayUrl() } }));
  route('GET', '/users/@me', 'bot', DEFAULT, () => ({
    status: 200,
    body: { ...wireUser(core.botUser), bot: true, verified: true, mfa_enabled: false, locale: 'en-US' },
  }));
  route('GET', '/applications/@me', 'bot', DEFAULT, () => ({
    status: 200,
    body: {
      id: core.applicationId,
      name: core.botUser.username,
      icon: null,
      description: '',
      bot_public: false,
      bot_require_code_grant: false,
      verify_key: 'stand-in',
      flags: 0,
      owner: wireUser({ id: core.ownerId, username: 'owner' }),
      team: null,
      bot: wireUser(core.botUser),
    },
  }));

  // Channels and messages.
  route('GET', `/channels/${ID}`, 'bot', DEFAULT, ({ params }) => {
    const c = h.channel(params[0] ?? '');
    return { status: 200, body: wireChannel(c, lastMessageId(core, c.id)) };
  });
  // Start a thread without a message (Discord: POST /channels/{id}/threads; type 11 public, 12 private).
  route('POST', `/channels/${ID}/threads`, 'bot', DEFAULT, ({ params, body }) => {
    const parent = h.channel(params[0]!);
    if (parent.type !== 0) fail(400, 50024, 'Cannot execute action on this channel type');
    const name = typeof body.name === 'string' ? body.name : '';
    if (!name || name.length > 100) formError('name', 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
    const id = addChannel(core, { name, parentId: parent.id, thread: true });
    return { status: 201, body: wireChannel(core.channels.get(id)!, null) };
  });
  route('GET', `/channels/${ID}/messages`, 'bot', DEFAULT, ({ params, query }) => {
    const c = h.channel(params[0] ?? '');
    const limit = Math.min(100, Math.max(1, Number(query.get('limit') ?? 50) || 50));
    const all = core.messages.filter((m) => m.channel_id === c.id && !m.deleted);
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
    h.requirePermission(c.id, 'SendMessages');
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
    h.requirePermission(c.id, 'SendMessages');
    core.dispatch('TYPING_START', {
      channel_id: c.id,
      guild_id: core.guildId,
      user_id: core.botUser.id,
      timestamp: Math.floor(Date.now() / 1000),
      member: { ...wireMember(core.joinedAt.get(core.botUser.id) ?? '', memberRoles(core, core.botUser.id)), user: wireUser(core.botUser) },
    }, { intent: 1 << 11 });
    return { status: 204 };
  });

  // Webhook management (bot token).
  route('GET', `/channels/${ID}/webhooks`, 'bot', DEFAULT, ({ params }) => {
    const c = h.channel(params[0] ?? '');
    if (c.type !== 0) fail(400, 50024, 'Cannot execute action on this channel type');
    h.requirePermission(c.id, 'ManageWebhooks');
    const hooks = [...core.webhooks.values()].filter((w) => w.channel_id === c.id);
    return { status: 200, body: hooks.map((w) => wireWebhook(w, core.guildId, core.applicationId, core.botUser)) };
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
    core.dispatch('WEBHOOKS_UPDATE', { guild_id: core.guildId, channel_id: c.id }, { intent: 1 << 5 });
    return { status: 200, body: wireWebhook(w, core.guildId, core.applicationId, core.botUser) };
  });
  route('GET', `/webhooks/${ID}`, 'bot', DEFAULT, ({ params }) => {
    const w = core.webhooks.get(params[0] ?? '') ?? fail(404, 10015, 'Unknown Webhook');
    return { status: 200, body: wireWebhook(w, core.guildId, core.applicationId, core.botUser) };
  });
  route('DELETE', `/webhooks/${ID}`, 'bot', DEFAULT, ({ params }) => {
    if (!core.webhooks.delete(params[0] ?? '')) fail(404, 10015, 'Unknown Webhook');
    return { status: 204 };
  });
}
