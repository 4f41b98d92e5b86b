// REST API (v10) of the Discord stand-in.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { addChannel, createMessage, deleteMessage, editMessage, lastMessageId, toWire } from './discord-core.ts';
import type { Core, Interaction } from './discord-core.ts';
import { MentionsError, wireChannel, wireUser, wireWebhook } from './discord-model.ts';
import type { AllowedMentions, StandInMessage, StandInWebhook } from './discord-model.ts';
import { parseBody, readBody } from './discord-http.ts';
import { createRateLimiter } from './discord-ratelimit.ts';
import type { Limit } from './discord-ratelimit.ts';

export interface RestCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  at: number;
  status: number;
}

interface Ctx {
  params: string[];
  query: URLSearchParams;
  body: Record<string, unknown>;
}

interface Reply {
  status: number;
  body?: unknown;
}

type Handler = (ctx: Ctx) => Reply;

interface Route {
  method: string;
  pattern: RegExp;
  /** 'bot' needs Authorization: Bot <token>; 'none' is authenticated by the token in the path. */
  auth: 'bot' | 'none';
  limit: Limit;
  handler: Handler;
}

export class HttpError extends Error {
  status: number;
  body: Record<string, unknown>;
  constructor(status: number, body: Record<string, unknown>) {
    super(String(body.message));
    this.status = status;
    this.body = body;
  }
}

const fail = (status: number, code: number, message: string, errors?: Record<string, unknown>): never => {
  throw new HttpError(status, errors ? { message, code, errors } : { message, code });
};
const formError = (field: string, code: string, message: string): never =>
  fail(400, 50035, 'Invalid Form Body', { [field]: { _errors: [{ code, message }] } });

const PER_CHANNEL: Limit = { limit: 5, windowMs: 5_000 };
const PER_WEBHOOK: Limit = { limit: 5, windowMs: 2_000 };
const DEFAULT: Limit = { limit: 50, windowMs: 1_000 };
const ID = '(\\d+)';
const TOKEN = '([^/]+)';

export function createRest(
  core: Core,
  opts: { enforceRateLimits: boolean; gatewayUrl: () => string; beforeRespond?: () => ((call: RestCall) => Promise<void> | void) | undefined },
) {
  const restCalls: RestCall[] = [];
  const callListeners = new Set<(c: RestCall) => void>();
  const checkRate = createRateLimiter(opts.enforceRateLimits);
  const routes: Route[] = [];
  const route = (method: string, path: string, auth: Route['auth'], limit: Limit, handler: Handler) =>
    routes.push({ method, pattern: new RegExp(`^${path}$`), auth, limit, handler });

  const channel = (id: string) => core.channels.get(id) ?? fail(404, 10003, 'Unknown Channel');
  const message = (channelId: string, id: string): StandInMessage => {
    const m = core.messageById.get(id);
    return m && !m.deleted && m.channel_id === channelId ? m : fail(404, 10008, 'Unknown Message');
  };
  const webhook = (id: string, token: string): StandInWebhook => {
    const w = core.webhooks.get(id) ?? fail(404, 10015, 'Unknown Webhook');
    return w.token === token ? w : fail(401, 50027, 'Invalid Webhook Token');
  };
  const interaction = (token: string): Interaction => core.interactions.get(token) ?? fail(404, 10015, 'Unknown Webhook');
  const allowedMentions = (body: Record<string, unknown>) => body.allowed_mentions as AllowedMentions | undefined;

  function checkContent(body: Record<string, unknown>, required: boolean): string {
    const content = typeof body.content === 'string' ? body.content : '';
    if (content.length > 2000) formError('content', 'BASE_TYPE_MAX_LENGTH', 'Must be 2000 or fewer in length.');
    const hasEmbeds = Array.isArray(body.embeds) && body.embeds.length > 0;
    if (required && !content && !hasEmbeds) fail(400, 50006, 'Cannot send an empty message');
    return content;
  }

  function checkName(field: string, name: unknown, required: boolean): string | undefined {
    if (name === undefined && !required) return undefined;
    if (typeof name !== 'string' || name.length < 1 || name.length > 80) {
      return formError(field, 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 80 in length.');
    }
    for (const banned of ['discord', 'clyde']) {
      if (name.toLowerCase().includes(banned)) formError(field, 'USERNAME_INVALID_CONTAINS', `Username cannot contain "${banned}"`);
    }
    return name;
  }

  // Gateway and identity.
  route('GET', '/gateway/bot', 'bot', DEFAULT, () => ({
    status: 200,
    body: {
      url: opts.gatewayUrl(),
      shards: 1,
      session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
    },
  }));
  route('GET', '/gateway', 'none', DEFAULT, () => ({ status: 200, body: { url: opts.gatewayUrl() } }));
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
    const c = channel(params[0] ?? '');
    return { status: 200, body: wireChannel(c, lastMessageId(core, c.id)) };
  });
  route('GET', `/channels/${ID}/messages`, 'bot', DEFAULT, ({ params, query }) => {
    const c = channel(params[0] ?? '');
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
    channel(params[0] ?? '');
    return { status: 200, body: toWire(core, message(params[0] ?? '', params[1] ?? '')) };
  });
  route('POST', `/channels/${ID}/messages`, 'bot', PER_CHANNEL, ({ params, body }) => {
    const c = channel(params[0] ?? '');
    if (c.type === 4) fail(400, 50008, 'Cannot send messages in a non-text channel');
    const content = checkContent(body, true);
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
      allowedMentions: allowedMentions(body),
      embeds: body.embeds as unknown[] | undefined,
      flags: typeof body.flags === 'number' ? body.flags : 0,
      nonce: body.nonce as string | undefined,
    });
    return { status: 200, body: toWire(core, msg) };
  });
  route('PATCH', `/channels/${ID}/messages/${ID}`, 'bot', PER_CHANNEL, ({ params, body }) => {
    const m = message(params[0] ?? '', params[1] ?? '');
    if (m.author.id !== core.botUser.id || m.webhook_id) fail(403, 50005, 'Cannot edit a message authored by another user');
    const content = body.content === undefined ? undefined : checkContent(body, false);
    editMessage(core, m, { content, allowedMentions: allowedMentions(body), embeds: body.embeds as unknown[] | undefined });
    return { status: 200, body: toWire(core, m) };
  });
  route('DELETE', `/channels/${ID}/messages/${ID}`, 'bot', DEFAULT, ({ params }) => {
    deleteMessage(core, message(params[0] ?? '', params[1] ?? ''));
    return { status: 204 };
  });
  route('POST', `/channels/${ID}/typing`, 'bot', DEFAULT, ({ params }) => {
    const c = channel(params[0] ?? '');
    core.dispatch('TYPING_START', {
      channel_id: c.id,
      guild_id: core.guildId,
      user_id: core.botUser.id,
      timestamp: Math.floor(Date.now() / 1000),
    }, { intent: 1 << 11 });
    return { status: 204 };
  });

  // Webhooks.
  route('GET', `/channels/${ID}/webhooks`, 'bot', DEFAULT, ({ params }) => {
    const c = channel(params[0] ?? '');
    if (c.type !== 0) fail(400, 50024, 'Cannot execute action on this channel type');
    const hooks = [...core.webhooks.values()].filter((w) => w.channel_id === c.id);
    return { status: 200, body: hooks.map((w) => wireWebhook(w, core.guildId, core.applicationId, core.botUser)) };
  });
  route('POST', `/channels/${ID}/webhooks`, 'bot', DEFAULT, ({ params, body }) => {
    const c = channel(params[0] ?? '');
    if (c.type !== 0) fail(400, 50024, 'Cannot execute action on this channel type');
    const name = checkName('name', body.name, true) ?? '';
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
  route('GET', `/webhooks/${ID}/${TOKEN}`, 'none', PER_WEBHOOK, ({ params }) => {
    const w = webhook(params[0] ?? '', params[1] ?? '');
    return { status: 200, body: wireWebhook(w, core.guildId, core.applicationId) };
  });
  route('POST', `/webhooks/${ID}/${TOKEN}`, 'none', PER_WEBHOOK, ({ params, query, body }) => {
    if (params[0] === core.applicationId) return followup(params[1] ?? '', body);
    const w = webhook(params[0] ?? '', params[1] ?? '');
    const content = checkContent(body, true);
    const username = checkName('username', body.username, false);
    let channelId = w.channel_id;
    const threadId = query.get('thread_id');
    if (threadId) {
      const t = core.channels.get(threadId);
      if (!t || t.type !== 11 || t.parent_id !== w.channel_id) fail(400, 10003, 'Unknown Channel');
      channelId = threadId;
    }
    // message_reference is not part of execute-webhook; Discord ignores it.
    const msg = createMessage(core, {
      channelId,
      content,
      author: { id: w.id, username: username ?? w.name, bot: true, avatar: w.avatar },
      webhookId: w.id,
      avatarUrl: typeof body.avatar_url === 'string' ? body.avatar_url : undefined,
      allowedMentions: allowedMentions(body),
      embeds: body.embeds as unknown[] | undefined,
      flags: typeof body.flags === 'number' ? body.flags : 0,
      tts: body.tts === true,
    });
    return query.get('wait') === 'true' ? { status: 200, body: toWire(core, msg) } : { status: 204 };
  });
  const webhookMessage = (params: string[]): StandInMessage => {
    if (params[0] === core.applicationId) {
      const i = interaction(params[1] ?? '');
      const id = params[2] === '@original' ? (i.originalMessageId ?? fail(404, 10008, 'Unknown Message')) : (params[2] ?? '');
      const m = core.messageById.get(id);
      return m && !m.deleted && m.application_id === core.applicationId ? m : fail(404, 10008, 'Unknown Message');
    }
    const w = webhook(params[0] ?? '', params[1] ?? '');
    const m = core.messageById.get(params[2] ?? '');
    return m && !m.deleted && m.webhook_id === w.id ? m : fail(404, 10008, 'Unknown Message');
  };
  route('GET', `/webhooks/${ID}/${TOKEN}/messages/(@original|\\d+)`, 'none', PER_WEBHOOK, ({ params }) => ({
    status: 200,
    body: toWire(core, webhookMessage(params)),
  }));
  route('PATCH', `/webhooks/${ID}/${TOKEN}/messages/(@original|\\d+)`, 'none', PER_WEBHOOK, ({ params, body }) => {
    const m = webhookMessage(params);
    const content = body.content === undefined ? undefined : checkContent(body, false);
    if (m.flags & 128) m.flags &= ~128; // a deferred "thinking" reply becomes a normal one
    editMessage(core, m, { content, allowedMentions: allowedMentions(body), embeds: body.embeds as unknown[] | undefined });
    return { status: 200, body: toWire(core, m) };
  });
  route('DELETE', `/webhooks/${ID}/${TOKEN}/messages/(@original|\\d+)`, 'none', PER_WEBHOOK, ({ params }) => {
    deleteMessage(core, webhookMessage(params));
    return { status: 204 };
  });

  // Application commands and interactions.
  route('PUT', `/applications/${ID}/guilds/${ID}/commands`, 'bot', DEFAULT, ({ params, body }) => {
    if (params[0] !== core.applicationId) fail(403, 50001, 'Missing Access');
    if (params[1] !== core.guildId) fail(404, 10004, 'Unknown Guild');
    const list = Array.isArray(body) ? (body as Record<string, unknown>[]) : [];
    const previous = core.commands.get(core.guildId) ?? [];
    const stored = list.map((c) => ({
      id: (previous.find((p) => p.name === c.name)?.id as string | undefined) ?? core.nextId(),
      application_id: core.applicationId,
      guild_id: core.guildId,
      version: core.nextId(),
      type: 1,
      default_member_permissions: null,
      nsfw: false,
      description_localizations: null,
      name_localizations: null,
      ...c,
    }));
    core.commands.set(core.guildId, stored);
    return { status: 200, body: stored };
  });
  route('GET', `/applications/${ID}/guilds/${ID}/commands`, 'bot', DEFAULT, () => ({
    status: 200,
    body: core.commands.get(core.guildId) ?? [],
  }));
  route('PUT', `/applications/${ID}/commands`, 'bot', DEFAULT, ({ body }) => ({
    status: 200,
    body: (Array.isArray(body) ? (body as Record<string, unknown>[]) : []).map((c) => ({ id: core.nextId(), application_id: core.applicationId, version: core.nextId(), type: 1, ...c })),
  }));
  route('POST', `/interactions/${ID}/${TOKEN}/callback`, 'none', DEFAULT, ({ params, query, body }) => {
    const i = core.interactions.get(params[1] ?? '');
    if (!i || i.id !== params[0]) return fail(404, 10062, 'Unknown interaction');
    if (i.responded) fail(400, 40060, 'Interaction has already been acknowledged.');
    i.responded = true;
    const type = Number(body.type);
    const data = (body.data ?? {}) as Record<string, unknown>;
    let created: StandInMessage | undefined;
    if (type === 4 || type === 5) {
      const flags = (typeof data.flags === 'number' ? data.flags : 0) | (type === 5 ? 128 : 0);
      created = interactionMessage(i, type === 4 ? checkContent(data, true) : '', data, flags);
      i.originalMessageId = created.id;
    }
    if (query.get('with_response') !== 'true') return { status: 204 };
    return {
      status: 200,
      body: {
        interaction: { id: i.id, type: 2, activity_instance_id: null, response_message_id: created?.id ?? null, response_message_loading: type === 5, response_message_ephemeral: created ? (created.flags & 64) !== 0 : false },
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
      interactionMetadata: { id: i.id, type: 2, user: user ? wireUser(user) : null, authorizing_integration_owners: { '0': core.guildId } },
    });
  }

  function followup(token: string, body: Record<string, unknown>): Reply {
    const i = interaction(token);
    if (!i.responded) fail(400, 10015, 'Unknown Webhook');
    const m = interactionMessage(i, checkContent(body, true), body, typeof body.flags === 'number' ? body.flags : 0);
    return { status: 200, body: toWire(core, m) };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    const body = parseBody(req.headers['content-type'] ?? '', raw);
    const query = Object.fromEntries(url.searchParams);
    const call: RestCall = { method, path: url.pathname, query, body, at: Date.now(), status: 0 };
    let status = 500;
    let payload: unknown;
    let headers: Record<string, string> = {};
    try {
      if (!url.pathname.startsWith('/api/v10/')) fail(404, 0, '404: Not Found');
      // discord.js percent-encodes '@' in '@original'; match on decoded segments.
      const path = url.pathname.slice('/api/v10'.length).split('/').map((seg) => decodeURIComponent(seg)).join('/');
      let matched: { r: Route; params: string[] } | undefined;
      for (const r of routes) {
        const m = r.pattern.exec(path);
        if (m && r.method === method) {
          matched = { r, params: m.slice(1).map((p) => p ?? '') };
          break;
        }
        if (m && !matched) status = 405;
      }
      if (!matched) {
        if (status === 405) fail(405, 0, '405: Method Not Allowed');
        return fail(404, 0, '404: Not Found');
      }
      const { r, params } = matched;
      const major = r.auth === 'none' ? `${params[0]}/${params[1]}` : (params[0] ?? '');
      const decision = checkRate(`${r.method} ${r.pattern.source}`, major, r.limit, r.auth === 'bot');
      headers = decision.headers;
      if (r.auth === 'bot' && req.headers.authorization !== `Bot ${core.token}`) fail(401, 0, '401: Unauthorized');
      if (decision.limited) {
        throw new HttpError(429, { message: 'You are being rate limited.', retry_after: decision.limited.retryAfter, global: decision.limited.global });
      }
      const reply = r.handler({ params, query: url.searchParams, body: (body ?? {}) as Record<string, unknown> });
      status = reply.status;
      payload = reply.body;
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        payload = err.body;
      } else if (err instanceof MentionsError) {
        status = 400;
        payload = { message: 'Invalid Form Body', code: 50035, errors: { [err.field]: { _errors: [{ code: 'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE', message: err.message }] } } };
      } else {
        status = 500;
        payload = { message: `stand-in error: ${String(err)}`, code: 0 };
      }
    }
    call.status = status;
    restCalls.push(call);
    for (const l of [...callListeners]) l(call);
    // Lets a test act between Discord doing the work and the client hearing of it.
    await opts.beforeRespond?.()?.(call);
    if (res.destroyed) return;
    res.statusCode = status;
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (status === 204 || payload === undefined) {
      res.end();
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(payload));
  }

  return { handle, restCalls, callListeners };
}
