// The REST client every chorus process uses, and what its failures mean. No automatic retries:
// a request that changes something (a post) may have been carried out before its answer was lost,
// and only the reply ledger knows whether to look for it first; reads and edits, which can be
// repeated safely, go through `idempotent`. The rate limit is the one Redis gate every process
// shares (core/rest-gate.ts), or chorus's REST proxy.
import { DefaultRestOptions, DiscordAPIError, HTTPError, RateLimitError, REST } from './discord-rest.ts';
import { createHash } from 'node:crypto';
import { keepSecret } from './log.ts';
import { isSharedLimit, type GateSlot, type RestGate, type WebhookTarget } from './rest-gate.ts';

/** Permissions chorus cannot work without in a channel; remembered when Discord refuses for want of one. */
export type ChannelPermission = 'ManageWebhooks' | 'SendMessages';

export class MissingPermissionError extends Error {
  override name = 'MissingPermissionError';
  readonly permission: ChannelPermission;
  constructor(permission: ChannelPermission, channelId: string) {
    super(`chorus needs the ${permission} permission in channel ${channelId}`);
    this.permission = permission;
  }
}

/**
 * A thread a moderator locked (or one chorus may not reopen): nothing can be posted or edited there
 * until someone with Manage Threads reopens it. Not a missing permission of chorus's in the channel:
 * nothing about it is remembered, and nothing is posted to say so (that, too, would be refused).
 */
export class ThreadLockedError extends Error {
  override name = 'ThreadLockedError';
  constructor(threadId: string) {
    super(`thread ${threadId} is locked: chorus cannot post or edit there until a moderator reopens it`);
  }
}

/**
 * The channel already holds Discord's most webhooks (15, Discord's 30007), none of them chorus's:
 * chorus can make none there. Remembered for FULL_RECHECK_MS by every process (core/webhook-pools.ts),
 * so posts there cost no refused requests meanwhile (core/discord.ts has the bot post them under the
 * persona's name).
 */
export class ChannelFullError extends Error {
  override name = 'ChannelFullError';
  constructor(channelId: string) {
    super(`channel ${channelId} holds Discord's maximum of webhooks, none of them chorus's`);
  }
}

/**
 * A persona's webhook post that Discord refused for its channel's hidden limit (429 with scope
 * "shared"): nothing was posted. Thrown only where the caller asked for it (RestOptions.busyChannelPosts),
 * to post another way rather than wait out the Retry-After.
 */
export class ChannelBusyError extends Error {
  override name = 'ChannelBusyError';
  constructor(channelId: string) {
    super(`Discord holds webhook posts into channel ${channelId}`);
  }
}

/**
 * What a failed Discord request means for whoever made it:
 * - transient: may succeed later (5xx, 429, a timeout or cut connection); for a post, Discord may
 *   even have carried it out;
 * - forbidden: a permission is missing (403); asking again costs an invalid request each time;
 * - unauthorized: the bot token was refused (401): nothing will work until it is replaced;
 * - gone: the channel, message or webhook no longer exists (404, or a webhook's token refused);
 * - refused: Discord will never accept this request as it is (other 4xx).
 */
export type DiscordFailure = 'transient' | 'forbidden' | 'unauthorized' | 'gone' | 'refused';

export function classifyDiscordError(err: unknown): DiscordFailure | undefined {
  if (err instanceof MissingPermissionError) return 'forbidden';
  if (err instanceof ChannelFullError || err instanceof ThreadLockedError) return 'refused';
  if (err instanceof RateLimitError || err instanceof HTTPError || err instanceof ChannelBusyError) return 'transient';
  if (err instanceof DiscordAPIError) {
    if (err.status === 429 || err.status === 408 || err.status >= 500) return 'transient';
    if (err.code === 50027 || err.code === 10015) return 'gone'; // a webhook deleted or reset
    if (err.status === 401) return 'unauthorized';
    if (err.status === 403) return 'forbidden';
    if (err.status === 404) return 'gone';
    return 'refused';
  }
  const e = err as { name?: string; code?: string; cause?: { code?: string } };
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return 'transient';
  const code = e?.code ?? e?.cause?.code;
  if (typeof code === 'string' && /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|UND_ERR_\w+)$/.test(code)) return 'transient';
  if (err instanceof TypeError && /fetch failed|terminated|socket/i.test(err.message)) return 'transient';
  return undefined;
}

/** Set on a request's failure when no HTTP answer came back (refused, reset, timed out, no such host). */
const UNANSWERED = Symbol('chorus.discord-unanswered');

function unanswered(err: unknown): unknown {
  if (err !== null && typeof err === 'object') Object.defineProperty(err, UNANSWERED, { value: true });
  return err;
}

/** Whether the failure, or one of the causes it wraps, passes the test. */
function anyCause(err: unknown, test: (e: object) => boolean): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) if (test(e)) return true;
  return false;
}

/** Whether a request got no HTTP answer at all (refused, reset, timed out, no such host): looks through causes. */
export function discordUnanswered(err: unknown): boolean {
  return anyCause(err, (e) => (e as Record<symbol, unknown>)[UNANSWERED] === true);
}

/**
 * Whether a failure says Discord (or the REST proxy in front of it) is away: no HTTP answer to a
 * request sent, or Discord's own 5xx. Then nothing a job does will work until it is back, and the
 * job is not at fault. A 429 is not: it says when to ask again. Looks through causes.
 */
export function discordAway(err: unknown): boolean {
  return discordUnanswered(err) || anyCause(err, (e) => (e instanceof DiscordAPIError || e instanceof HTTPError) && (e.status >= 500 || e.status === 408));
}

export interface RestOptions {
  /** The Redis gate every chorus process shares; absent when chorus's REST proxy keeps the limit. */
  gate?: RestGate;
  /** True when `apiUrl` is chorus's REST proxy. */
  proxied?: boolean;
  /** Time limit of one request (ms). */
  timeoutMs?: number;
  /** Told when a post waited for a webhook's own budget (the gate's view of a crowded webhook). */
  onWebhookWait?: (webhookId: string, waitedMs: number) => void;
  /** Told, on each request through a webhook, how many went through it in the last minute (all processes). */
  onWebhookCalls?: (webhookId: string, lastMinute: number) => void;
  /** Told, on each webhook post that names its channel (webhookTargetHeaders), the channel's posts in the last minute. */
  onChannelCalls?: (channelId: string, lastMinute: number) => void;
  /**
   * What a webhook post (one naming its channel as a post: webhookTargetHeaders) does when Discord
   * answers 429 for the channel's hidden limit: `wait` out the Retry-After and send it again (the
   * default), or `throw` a ChannelBusyError at once, for the caller to post it another way.
   */
  busyChannelPosts?: 'wait' | 'throw';
}

/** A post held back longer than this by its webhook's budget means the webhook is crowded. */
export const WEBHOOK_WAIT_MS = 20;

/** A webhook's budget in the shared gate. (Keyed by id and token: an interaction's token is a budget of its own under the app's id.) */
export const webhookBucket = (id: string, token: string) => `webhook:${id}:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;

/** The header by which a request says its gate slot is taken already; removed before it is sent. */
const HELD_SLOT = 'x-chorus-held-slot';
/**
 * The header by which a webhook request names the channel it goes into and whether it is a post or
 * an edit, for the gate (RestGate's WebhookTarget); removed before it is sent.
 */
const WEBHOOK_CHANNEL_HEADER = 'x-chorus-webhook-channel';

/** The header by which a request says it may take only spare room in the gate, never wait (RestGate.acquireSpare); removed before it is sent. */
const SPARE_ONLY = 'x-chorus-spare-only';

/** The headers for a request nobody waits for: sent only if the gate has spare room now, else NoSpareRoomError. */
export const spareOnlyHeaders = (): Record<string, string> => ({ [SPARE_ONLY]: '1' });

/** A spare-room request was not sent: the global limit is busy with requests someone waits for. */
export class NoSpareRoomError extends Error {
  override name = 'NoSpareRoomError';
  constructor() {
    super('not sent: Discord\'s global limit has no spare room now');
  }
}

/** The headers that tell the gate a webhook request's channel and kind (read back by webhookTarget). */
export function webhookTargetHeaders(target: Required<WebhookTarget>): Record<string, string> {
  return { [WEBHOOK_CHANNEL_HEADER]: `${target.kind} ${target.channel}` };
}

/** The gate's view of a webhook request, from the header webhookTargetHeaders wrote. */
function webhookTarget(header: string | undefined): WebhookTarget {
  const [kind, channel] = header?.split(' ') ?? [];
  return channel && (kind === 'post' || kind === 'edit') ? { channel, kind } : {};
}
const heldSlots = new Map<string, GateSlot>();
let heldCount = 0;

/**
 * For a request whose gate slot was taken before it was made (a post, whose webhook is chosen when
 * the gate grants the slot: RestGate.tryAcquire): the headers that hand the slot to the request,
 * and `drop`, which frees it if the request never went.
 */
export function withHeldSlot(slot: GateSlot): { headers: Record<string, string>; drop(): void } {
  const id = String(++heldCount);
  heldSlots.set(id, slot);
  return {
    headers: { [HELD_SLOT]: id },
    drop() {
      if (heldSlots.delete(id)) slot.release();
    },
  };
}

const INTERACTION_CALLBACK = /\/interactions\/\d+\/[^/]+\/callback$/;

/** The REST client every chorus process uses: no automatic retries, one shared rate limit. */
export function createRest(apiUrl: string, token: string, opts: RestOptions = {}): REST {
  const { gate } = opts;
  keepSecret(token);
  // Every request leaves through here, so a failure with no HTTP answer is told from any other.
  const send = (url: string, init: Parameters<typeof DefaultRestOptions.makeRequest>[1]) =>
    DefaultRestOptions.makeRequest(url, init).catch((err: unknown) => {
      throw unanswered(err);
    });
  return new REST({
    api: apiUrl,
    version: '10',
    retries: 0,
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    // The shared gate (or the proxy) keeps the global limit; this process's own counter stands aside.
    ...(gate || opts.proxied ? { globalRequestsPerSecond: 100_000 } : {}),
    ...(gate
      ? {
          async makeRequest(url: string, init: Parameters<typeof DefaultRestOptions.makeRequest>[1]) {
            // chorus's own headers say what the gate needs; they are not sent. (The same request
            // may come here again, after a 429: they are read from it, never removed from it.)
            const { [HELD_SLOT]: heldId, [WEBHOOK_CHANNEL_HEADER]: channelHeader, [SPARE_ONLY]: spareOnly, ...sent } = (init.headers ?? {}) as Record<string, string>;
            const bot = Boolean(sent.authorization ?? sent.Authorization);
            const path = new URL(url).pathname;
            // An interaction's first answer is due within 3 s, and interaction endpoints are not
            // bound to the global limit: it never waits in the gate (nor for a pause the gate holds).
            if (INTERACTION_CALLBACK.test(path)) return send(url, { ...init, headers: sent });
            const webhook = /\/webhooks\/(\d+)\/([^/?]+)/.exec(path);
            // The bot's posts into a channel have a budget of their own too (5 per 5 s), which every
            // process must share: a persona's posts go this way when the channel's webhooks are held.
            const botPost = bot && init.method?.toUpperCase() === 'POST' ? /\/channels\/(\d+)\/messages$/.exec(path) : null;
            const target = webhook ? webhookTarget(channelHeader) : {};
            // A webhook's own budget is shared by every process posting through it.
            const bucket = webhook ? webhookBucket(webhook[1]!, webhook[2]!) : botPost ? `bot-posts:${botPost[1]}` : undefined;
            let slot = heldId !== undefined ? heldSlots.get(heldId) : undefined;
            if (heldId !== undefined) heldSlots.delete(heldId);
            if (!slot && spareOnly !== undefined) {
              slot = await gate.acquireSpare(bot ? 'bot' : 'webhook', bucket, target);
              if (!slot) throw new NoSpareRoomError();
            }
            if (!slot) {
              slot = await gate.acquire(bot ? 'bot' : 'webhook', bucket, target);
              if (webhook && slot.heldByBucketMs > WEBHOOK_WAIT_MS) opts.onWebhookWait?.(webhook[1]!, slot.heldByBucketMs);
              if (webhook && slot.lastMinute !== undefined) opts.onWebhookCalls?.(webhook[1]!, slot.lastMinute);
              if (target.channel && slot.channelMinute !== undefined) opts.onChannelCalls?.(target.channel, slot.channelMinute);
            }
            let answer: Awaited<ReturnType<typeof DefaultRestOptions.makeRequest>> | undefined;
            try {
              answer = await send(url, { ...init, headers: sent });
            } finally {
              slot.release(answer);
            }
            // (The gate has learned the hold from the answer, whichever way the post goes on.)
            if (opts.busyChannelPosts === 'throw' && target.kind === 'post' && target.channel && isSharedLimit(answer)) {
              await answer.arrayBuffer().catch(() => undefined); // frees the connection
              throw new ChannelBusyError(target.channel);
            }
            return answer;
          },
        }
      : { makeRequest: send }),
  }).setToken(token);
}

/** Repeats a request that is safe to repeat (a read, an edit to a fixed text) on a passing failure. */
export async function idempotent<T>(request: () => Promise<T>, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (err) {
      if (attempt >= tries || classifyDiscordError(err) !== 'transient') throw err;
      await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
    }
  }
}
