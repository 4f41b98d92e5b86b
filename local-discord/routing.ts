// Shared pieces of the stand-in's REST router: errors, limits, route shapes and lookup helpers.
import { interactionAge, permissionsIn } from './core.ts';
import type { Core, Interaction } from './core.ts';
import { basePermissions, bitOf, PERMISSION_BITS } from './permissions.ts';
import type { PermissionName } from './permissions.ts';
import type { AllowedMentions, StandInMessage, StandInWebhook } from './model.ts';
import type { Limit } from './ratelimit.ts';

export interface Ctx {
  params: string[];
  query: URLSearchParams;
  body: Record<string, unknown>;
}

export interface Reply {
  status: number;
  body?: unknown;
}

export type Handler = (ctx: Ctx) => Reply;

export interface RouteOptions {
  /** Routes with the same bucket share one budget (and one X-RateLimit-Bucket). */
  bucket?: string;
  /** The major parameter's value; defaults to the first path parameter. */
  major?: (params: string[]) => string;
  /** A webhook post's channel: it also spends the channel's webhook budget (ratelimit.ts's WEBHOOK_CHANNEL). */
  channelOf?: (params: string[]) => string | undefined;
}

/** 'bot' needs Authorization: Bot <token>; 'none' is authenticated by the token in the path. */
export type Auth = 'bot' | 'none';
export type RouteFn = (method: string, path: string, auth: Auth, limits: Limit | Limit[], handler: Handler, opts?: RouteOptions) => void;

export class HttpError extends Error {
  status: number;
  body: Record<string, unknown>;
  constructor(status: number, body: Record<string, unknown>) {
    super(String(body.message));
    this.status = status;
    this.body = body;
  }
}

export const fail = (status: number, code: number, message: string, errors?: Record<string, unknown>): never => {
  throw new HttpError(status, errors ? { message, code, errors } : { message, code });
};
export const formError = (field: string, code: string, message: string): never =>
  fail(400, 50035, 'Invalid Form Body', { [field]: { _errors: [{ code, message }] } });
export const missingPermissions = (): never => fail(403, 50013, 'Missing Permissions');

// Discord's documented/observed limits (seconds-scale windows), used when enforcement is on.
export const PER_CHANNEL: Limit = { limit: 5, windowMs: 5_000 };
export const PER_WEBHOOK: Limit[] = [{ limit: 5, windowMs: 2_000 }];
export const DEFAULT: Limit = { limit: 50, windowMs: 1_000 };
export const ID = '(\\d+)';
export const TOKEN = '([^/]+)';

export function helpers(core: Core) {
  const channel = (id: string) => core.channels.get(id) ?? fail(404, 10003, 'Unknown Channel');
  const message = (channelId: string, id: string): StandInMessage => {
    const m = core.messageById.get(id);
    return m && !m.deleted && m.channel_id === channelId ? m : fail(404, 10008, 'Unknown Message');
  };
  const webhook = (id: string, token: string): StandInWebhook => {
    const w = core.webhooks.get(id) ?? fail(404, 10015, 'Unknown Webhook');
    return w.token === token ? w : fail(401, 50027, 'Invalid Webhook Token');
  };
  // An interaction's token is a webhook's for 15 minutes; after that Discord answers 401.
  const interaction = (token: string): Interaction => {
    const i = core.interactions.get(token) ?? fail(404, 10015, 'Unknown Webhook');
    return interactionAge(core, i).tokenExpired ? fail(401, 50027, 'Invalid Webhook Token') : i;
  };
  const allowedMentions = (body: Record<string, unknown>) => body.allowed_mentions as AllowedMentions | undefined;
  /** The bot's permissions in the channel: 403 50001 without View Channel, 403 50013 without the one asked. */
  const requirePermission = (channelId: string, permission: PermissionName) => {
    const bits = permissionsIn(core, channel(channelId), core.botUser.id);
    if (!(bits & PERMISSION_BITS.ViewChannel)) fail(403, 50001, 'Missing Access');
    if (!(bits & bitOf(permission))) missingPermissions();
  };
  const requireGuildPermission = (guildId: string, permission: PermissionName) => {
    const g = core.guilds.get(guildId) ?? fail(404, 10004, 'Unknown Guild');
    if (!(basePermissions(g, core.botUser.id) & bitOf(permission))) missingPermissions();
    return g;
  };

  function checkContent(body: Record<string, unknown>, required: boolean): string {
    const content = typeof body.content === 'string' ? body.content : '';
    if (content.length > 2000) formError('content', 'BASE_TYPE_MAX_LENGTH', 'Must be 2000 or fewer in length.');
    const hasEmbeds = Array.isArray(body.embeds) && body.embeds.length > 0;
    if (required && !content && !hasEmbeds) fail(400, 50006, 'Cannot send an empty message');
    return content;
  }

  /**
   * A webhook's name, or a post's username, under Discord's rules for names (Usernames and
   * Nicknames, which Create Webhook applies, "clyde" added): trimmed of spaces at the ends and runs
   * of them inside, as stored; 1–80 characters; none of @ # : ``` "discord" "clyde"; not "everyone"
   * or "here".
   */
  function checkName(field: string, name: unknown, required: boolean): string | undefined {
    if (name === undefined && !required) return undefined;
    const stored = typeof name === 'string' ? name.replace(/\s+/gu, ' ').trim() : '';
    if (stored.length < 1 || stored.length > 80) {
      return formError(field, 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 80 in length.');
    }
    for (const banned of ['discord', 'clyde', '@', '#', ':', '```']) {
      if (stored.toLowerCase().includes(banned)) formError(field, 'USERNAME_INVALID_CONTAINS', `Username cannot contain "${banned}"`);
    }
    if (/^(everyone|here)$/i.test(stored)) formError(field, 'USERNAME_INVALID', 'Username is not allowed');
    return stored;
  }

  return { channel, message, webhook, interaction, allowedMentions, requirePermission, requireGuildPermission, checkContent, checkName };
}

export type Helpers = ReturnType<typeof helpers>;
