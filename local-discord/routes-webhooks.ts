// REST routes of the stand-in: webhook-token routes (execute, message get/edit/delete),
// application commands and interaction callbacks.
import { interactionAge, type Core, type Interaction } from './core.ts';
import { createMessage, deleteMessage, editMessage, toWire } from './messages.ts';
import { wireUser, wireWebhook } from './model.ts';
import { setArchived } from './system.ts';
import type { AllowedMentions, StandInMessage } from './model.ts';
import { DEFAULT, fail, formError, ID, PER_WEBHOOK, TOKEN } from './routing.ts';
import type { Helpers, Reply, RouteFn, RouteOptions } from './routing.ts';

export function webhookRoutes(core: Core, route: RouteFn, h: Helpers): void {
  // Every token route of one webhook shares its budget; an interaction token has its own.
  const shared: RouteOptions = {
    bucket: 'webhooks/:id/:token',
    major: (params) => (params[0] === core.applicationId ? `${params[0]}/${params[1]}` : (params[0] ?? '')),
  };
  // An execution also spends its channel's webhook budget (an interaction's follow-up does not).
  const posting: RouteOptions = { ...shared, channelOf: (params) => (params[0] === core.applicationId ? undefined : core.webhooks.get(params[0] ?? '')?.channel_id) };

  route('GET', `/webhooks/${ID}/${TOKEN}`, 'none', PER_WEBHOOK, ({ params }) => {
    const w = h.webhook(params[0] ?? '', params[1] ?? '');
    return { status: 200, body: wireWebhook(w, core.channels.get(w.channel_id)?.guild_id ?? '', core.applicationId) };
  }, shared);
  route('POST', `/webhooks/${ID}/${TOKEN}`, 'none', PER_WEBHOOK, ({ params, query, body }) => {
    if (params[0] === core.applicationId) return followup(params[1] ?? '', body);
    const w = h.webhook(params[0] ?? '', params[1] ?? '');
    const content = h.checkContent(body, true);
    const username = h.checkName('username', body.username, false);
    let channelId = w.channel_id;
    const threadId = query.get('thread_id');
    if (threadId) {
      const t = core.channels.get(threadId);
      if (!t || (t.type !== 10 && t.type !== 11 && t.type !== 12) || t.parent_id !== w.channel_id) fail(400, 10003, 'Unknown Channel');
      // "The thread will automatically be unarchived": unless a moderator locked it (50083).
      if (t!.locked) fail(400, 50083, 'Thread is archived');
      setArchived(core, t!, false);
      channelId = threadId;
    }
    // message_reference is not part of execute-webhook; Discord ignores it.
    const msg = createMessage(core, {
      channelId,
      content,
      author: { id: w.id, username: username ?? w.name, bot: true, avatar: w.avatar },
      webhookId: w.id,
      avatarUrl: typeof body.avatar_url === 'string' ? body.avatar_url : undefined,
      allowedMentions: h.allowedMentions(body),
      embeds: body.embeds as unknown[] | undefined,
      flags: typeof body.flags === 'number' ? body.flags : 0,
      tts: body.tts === true,
    });
    return query.get('wait') === 'true' ? { status: 200, body: toWire(core, msg) } : { status: 204 };
  }, posting);
  const webhookMessage = (params: string[]): StandInMessage => {
    if (params[0] === core.applicationId) {
      const i = h.interaction(params[1] ?? '');
      const id = params[2] === '@original' ? (i.originalMessageId ?? fail(404, 10008, 'Unknown Message')) : (params[2] ?? '');
      const m = core.messageById.get(id);
      return m && !m.deleted && m.application_id === core.applicationId ? m : fail(404, 10008, 'Unknown Message');
    }
    const w = h.webhook(params[0] ?? '', params[1] ?? '');
    const m = core.messageById.get(params[2] ?? '');
    return m && !m.deleted && m.webhook_id === w.id ? m : fail(404, 10008, 'Unknown Message');
  };
  const MESSAGE = `/webhooks/${ID}/${TOKEN}/messages/(@original|\\d+)`;
  route('GET', MESSAGE, 'none', PER_WEBHOOK, ({ params }) => ({ status: 200, body: toWire(core, webhookMessage(params)) }), shared);
  route('PATCH', MESSAGE, 'none', PER_WEBHOOK, ({ params, body }) => {
    const m = webhookMessage(params);
    // An edit is "an operation on an archived thread": refused until the thread is unarchived.
    if (core.channels.get(m.channel_id)?.archived) fail(400, 50083, 'Thread is archived');
    const content = body.content === undefined ? undefined : h.checkContent(body, false);
    if (m.flags & 128) m.flags &= ~128; // a deferred "thinking" reply becomes a normal one
    editMessage(core, m, { content, allowedMentions: h.allowedMentions(body), embeds: body.embeds as unknown[] | undefined });
    return { status: 200, body: toWire(core, m) };
  }, shared);
  route('DELETE', MESSAGE, 'none', PER_WEBHOOK, ({ params }) => {
    deleteMessage(core, webhookMessage(params));
    return { status: 204 };
  }, shared);

  // Application commands.
  route('PUT', `/applications/${ID}/guilds/${ID}/commands`, 'bot', DEFAULT, ({ params, body }) => {
    if (params[0] !== core.applicationId) fail(403, 50001, 'Missing Access');
    const guildId = params[1] ?? '';
    if (!core.guilds.has(guildId)) fail(404, 10004, 'Unknown Guild');
    const list = Array.isArray(body) ? (body as Record<string, unknown>[]) : [];
    const previous = core.commands.get(guildId) ?? [];
    const stored = list.map((c) => ({
      id: (previous.find((p) => p.name === c.name)?.id as string | undefined) ?? core.nextId(),
      application_id: core.applicationId,
      guild_id: guildId,
      version: core.nextId(),
      type: 1,
      default_member_permissions: null,
      nsfw: false,
      description_localizations: null,
      name_localizations: null,
      ...c,
    }));
    core.commands.set(guildId, stored);
    return { status: 200, body: stored };
  });
  route('GET', `/applications/${ID}/guilds/${ID}/commands`, 'bot', DEFAULT, ({ params }) => ({
    status: 200,
    body: core.commands.get(params[1] ?? '') ?? (core.guilds.has(params[1] ?? '') ? [] : fail(404, 10004, 'Unknown Guild')),
  }));
  route('PUT', `/applications/${ID}/commands`, 'bot', DEFAULT, ({ body }) => ({
    status: 200,
    body: (Array.isArray(body) ? (body as Record<string, unknown>[]) : []).map((c) => ({ id: core.nextId(), application_id: core.applicationId, version: core.nextId(), type: 1, ...c })),
  }));

  // Interaction callbacks.
  route('POST', `/interactions/${ID}/${TOKEN}/callback`, 'none', DEFAULT, ({ params, query, body }) => {
    const i = core.interactions.get(params[1] ?? '');
    if (!i || i.id !== params[0]) return fail(404, 10062, 'Unknown interaction');
    // Discord waits 3 seconds for the first answer, and knows the interaction for 15 minutes.
    const { firstAnswerLate, tokenExpired } = interactionAge(core, i);
    if (firstAnswerLate || tokenExpired) fail(404, 10062, 'Unknown interaction');
    if (i.responded) fail(400, 40060, 'Interaction has already been acknowledged.');
    const type = Number(body.type);
    const data = (body.data ?? {}) as Record<string, unknown>;
    const kind = i.type ?? 2;
    // Autocomplete interactions take only type 8; commands take 4, 5 (or 9 modal, 12 premium).
    if ((kind === 4) !== (type === 8)) formError('type', 'INTERACTION_RESPONSE_TYPE_INVALID', 'Invalid interaction response type');
    if (type === 8) {
      const choices = Array.isArray(data.choices) ? data.choices : [];
      if (choices.length > 25) formError('data.choices', 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
    }
    i.responded = true;
    let created: StandInMessage | undefined;
    if (type === 4 || type === 5) {
      const flags = (typeof data.flags === 'number' ? data.flags : 0) | (type === 5 ? 128 : 0);
      created = interactionMessage(i, type === 4 ? h.checkContent(data, true) : '', data, flags);
      i.originalMessageId = created.id;
    }
    i.onCallback?.(body);
    if (query.get('with_response') !== 'true') return { status: 204 };
    return {
      status: 200,
      body: {
        interaction: { id: i.id, type: kind, activity_instance_id: null, response_message_id: created?.id ?? null, response_message_loading: type === 5, response_message_ephemeral: created ? (created.flags & 64) !== 0 : false },
        resource: created ? { type, message: toWire(core, created) } : { type },
      },
    };
  });

  function interactionMessage(i: Interaction, content: string, data: Record<string, unknown>, flags: number): StandInMessage {
    const user = core.users.get(i.userId);
    return createMessage(core, {
      channelId: i.channelId,
      content,
      author: core.botUser,
      webhookId: core.applicationId,
      applicationId: core.applicationId,
      allowedMentions: data.allowed_mentions as AllowedMentions | undefined,
      embeds: data.embeds as unknown[] | undefined,
      flags,
      ephemeral: (flags & 64) !== 0,
      interactionMetadata: { id: i.id, type: 2, user: user ? wireUser(user) : null, authorizing_integration_owners: { '0': i.guildId } },
    });
  }

  function followup(token: string, body: Record<string, unknown>): Reply {
    const i = h.interaction(token);
    if (!i.responded) fail(400, 10015, 'Unknown Webhook');
    const m = interactionMessage(i, h.checkContent(body, true), body, typeof body.flags === 'number' ? body.flags : 0);
    return { status: 200, body: toWire(core, m) };
  }
}
