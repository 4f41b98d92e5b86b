// The workers' edge to Discord: REST only (the client is core/rest.ts's). Posts and edits as a
// persona through a small pool of channel webhooks chorus owns (core/webhook-pools.ts chooses which),
// shows typing, and reads history when the cache is cold. A post is never retried here: only the reply ledger knows whether to look for
// it first. Reads and edits, which can be repeated safely, are.
import { DiscordAPIError } from './discord-rest.ts';
import { Routes, type APIMessage } from 'discord-api-types/v10';
import { lookUpChannelTarget, type ChannelTarget } from './channels.ts';
import { MAX_POLL_MS, type GateSlot, type RestGate } from './rest-gate.ts';
import { redisScript } from './redis-script.ts';
import { ChannelBusyError, ChannelFullError, idempotent, MissingPermissionError, NoSpareRoomError, ThreadLockedError, spareOnlyHeaders, WEBHOOK_WAIT_MS, webhookBucket, webhookTargetHeaders, withHeldSlot } from './rest.ts';
import { withNameLine } from './split.ts';
import { boundedMap } from './bounded-map.ts';
import { createWebhookPools, MINUTE_CROWDED, type PoolOptions, type StoredWebhook } from './webhook-pools.ts';

/** Model text must never ping anyone: no parsed mentions of any kind, on every post and edit. */
export const NO_PINGS = { parse: [] as never[], users: [] as string[], roles: [] as string[], replied_user: false };

export interface Speaker {
  /** Which persona speaks (its webhook slot, when the pool's webhooks are equally free). */
  personaId: string;
  name: string;
  avatarUrl?: string;
}

export interface PostedMessage {
  id: string;
  /** The webhook that posted it, or BOT_POSTED for a post the bot made itself. */
  webhookId: string;
}

/**
 * Why a persona's post went out as the bot: the gate knew the channel held, Discord refused the post
 * (a shared 429), or the channel is full of other apps' webhooks (ChannelFullError).
 */
export type OverflowReason = 'held' | 'refused' | 'full';

/** A PostedMessage's `webhookId` when the bot posted it itself (a notice, or a persona's overflow post). */
export const BOT_POSTED = 'bot';

/** Discord's answer for a webhook deleted (Unknown Webhook) or whose token was reset (Invalid Webhook Token). */
export function isWebhookGone(err: unknown): boolean {
  return err instanceof DiscordAPIError && (err.code === 10015 || err.code === 50027);
}

/** A channel, and its parent when it is a thread (threads post through their parent's webhooks). */
export interface ChannelRef {
  channelId: string;
  parentId?: string;
}

export interface DiscordEdge {
  /** The newest messages of a channel, oldest first (used only to fill a cold cache). */
  latest(channelId: string, limit: number): Promise<APIMessage[]>;
  /**
   * Posts as the persona. With `ready`, the post is sent only once it has resolved (the ledger's mark
   * that the piece is being sent): the wait for a webhook and a slot goes on beside it; if it
   * rejects, nothing is sent and the slot is freed.
   */
  postAs(channel: ChannelRef, speaker: Speaker, content: string, ready?: Promise<unknown>): Promise<PostedMessage>;
  /** Edits a post; one the bot made for a persona (BOT_POSTED) keeps the speaker's name line. */
  editAs(channel: ChannelRef, posted: PostedMessage, content: string, speaker?: Speaker): Promise<void>;
  /**
   * The same edit, for a streamed answer on its way: made only with spare room under Discord's
   * limits (RestGate.acquireSpare), never waited for; false when it was left out. (Its final text
   * goes through editAs, which waits its turn.)
   */
  editIfRoom(channel: ChannelRef, posted: PostedMessage, content: string, speaker?: Speaker): Promise<boolean>;
  /**
   * Shows the bot typing in the channel, unless some chorus process did so lately (Discord shows
   * the indicator for 10 s, whoever is waiting): resolves with how long until it is worth showing
   * again (ms). One request per channel per TYPING_RENEW_MS at most, however many replies wait;
   * none while the global limit has no room to spare (then again after TYPING_SKIPPED_MS).
   */
  typing(channelId: string): Promise<number>;
  /**
   * Makes ready, in the background, what the channel's first post needs (its first webhook), so a
   * post after a model's answer does not wait for it. Failures are left for the post to meet.
   */
  prepare(channel: ChannelRef): void;
  /** How long a streaming edit should wait so the webhook's and the channel's budgets keep room to spare (0: now). */
  editDelay(channel: ChannelRef, webhookId: string): number;
  /** Whether the channel's webhooks have room for a streamed answer's preview and edits (see WebhookPools.roomToStream), and Discord's webhook limit has room to spare. */
  roomToStream(channel: ChannelRef): Promise<boolean>;
  /** A post had to wait this long for the webhook's own budget (see RestOptions.onWebhookWait). */
  noteWebhookWait(webhookId: string, waitedMs: number): void;
  /** Requests through a webhook in the last minute, from every process (see RestOptions.onWebhookCalls). */
  noteWebhookCalls(webhookId: string, lastMinute: number): void;
  /** Webhook posts into a channel in the last minute, from every process (see RestOptions.onChannelCalls). */
  noteChannelCalls(channelId: string, lastMinute: number): void;
  /** A plain message from the bot itself, for problems a webhook cannot report. */
  postAsBot(channelId: string, content: string): Promise<APIMessage>;
  /**
   * Our post after `afterId` with exactly this content, by the persona of that name (through our
   * webhooks, or by the bot under the persona's name line) or, for `null`, by the bot itself: one
   * whose answer was lost. Looks through every message after `afterId`, newest first, up to 1,000.
   */
  findOwnPost(channel: ChannelRef, afterId: string, username: string | null, content: string): Promise<PostedMessage | undefined>;
}

/** How often a channel's typing indicator is renewed while replies wait (Discord shows one for 10 s). */
export const TYPING_RENEW_MS = 8_000;
/** When the global limit had no spare room for the indicator, it is tried again this soon. */
export const TYPING_SKIPPED_MS = 1_000;

// KEYS: the channel's typing key. ARGV: renewal period (ms). Returns 0 when the caller should send
// the indicator now (the key is taken for the period), else how long until it should be renewed.
const CLAIM_TYPING = redisScript(`
local left = redis.call('PTTL', KEYS[1])
if left > 0 then return left end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 0`);

/** How long a persona post may wait for a channel Discord holds before the bot posts it instead (EdgeOptions.overflowAfterMs). */
export const OVERFLOW_AFTER_MS = 1000;

/** How long a channel where the bot was refused a post is left to the webhooks before the bot tries again. */
const BOT_REFUSED_MS = 10 * 60_000;

/** Longest pause between looks for a webhook with room: a webhook added meanwhile is seen this soon. */
const WEBHOOK_POLL_MS = 250;

/** Pages of 100 messages looked through for a post whose answer was lost (see findOwnPost). */
const OWN_POST_PAGES = 10;

/** Channels whose thread parent a process keeps in memory (the busiest, by last use). */
const REMEMBERED_CHANNELS = 10_000;

/** The pools' options; the bot's identity also says which messages are the bot's own. */
export interface EdgeOptions extends PoolOptions {
  /**
   * The shared REST gate `rest` uses, if any: a post then chooses its webhook when the gate grants
   * it a slot, among the pool's webhooks with room. Without it (chorus's REST proxy keeps the
   * limit), a post chooses before it waits, knowing only this process's posts.
   */
  gate?: RestGate;
  /** Called with something an operator should know that is not an error of a request. */
  onWarning?: (message: string, fields: Record<string, unknown>) => void;
  /**
   * With the gate only: a persona post that Discord's hidden per-channel webhook limit would hold
   * longer than this (ms) is posted by the bot itself, under the persona's name line, rather than
   * wait (the REST client must then be created with `busyChannelPosts: 'throw'`). Absent: it waits.
   */
  overflowAfterMs?: number;
  /** Told of each persona post the bot made itself, and why. */
  onOverflow?: (reason: OverflowReason) => void;
}

export function createDiscordEdge(o: EdgeOptions): DiscordEdge {
  const { rest, redis, prefix } = o;
  // A channel's thread parent never changes: read once per channel, not per post.
  const targets = boundedMap<ChannelTarget>(REMEMBERED_CHANNELS);
  const pools = createWebhookPools(o);

  /** Threads post through their parent's webhooks with `thread_id`. Known from the job, else read once. */
  async function targetOf(channel: ChannelRef): Promise<ChannelTarget> {
    if (channel.parentId) return { webhookChannelId: channel.parentId, threadId: channel.channelId };
    const known = targets.get(channel.channelId);
    if (known) return known;
    const target = await lookUpChannelTarget(rest, redis, prefix, channel.channelId);
    targets.set(channel.channelId, target);
    return target;
  }

  /** Edits a post (see editAs); `ifRoom`: only with spare room under the limits (NoSpareRoomError otherwise). */
  async function edit(channel: ChannelRef, posted: PostedMessage, content: string, speaker: Speaker | undefined, ifRoom: boolean): Promise<void> {
    const spare = ifRoom && o.gate ? spareOnlyHeaders() : {};
    if (posted.webhookId === BOT_POSTED) {
      const body = { content: speaker ? withNameLine(speaker.name, content) : content, allowed_mentions: NO_PINGS };
      await inOpenThread(channel.channelId, () => idempotent(() => rest.patch(Routes.channelMessage(channel.channelId, posted.id), { body, headers: spare })));
      return;
    }
    const target = await targetOf(channel);
    const hook = await pools.byId(target.webhookChannelId, posted.webhookId);
    if (!hook) throw new DiscordAPIError({ code: 10015, message: 'Unknown Webhook' }, 10015, 404, 'PATCH', 'webhook', {});
    // An edit without allowed_mentions is parsed with Discord's defaults and would ping.
    const headers = { ...channelHeader(target, 'edit'), ...spare };
    const request = () => idempotent(() => rest.patch(Routes.webhookMessage(hook.id, hook.token, posted.id), { body: { content, allowed_mentions: NO_PINGS }, query: threadQuery(target), auth: false, headers }));
    try {
      await (target.threadId ? inOpenThread(target.threadId, request) : request());
    } catch (err) {
      await forgetIfGone(target, hook.id, err); // the pool must not offer it to the next post
      throw err;
    }
  }

  async function listMessages(channelId: string, query: Record<string, string>): Promise<APIMessage[]> {
    const page = (await idempotent(() => rest.get(Routes.channelMessages(channelId), { query: new URLSearchParams(query) }))) as APIMessage[];
    return page.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  }

  /** Names, for the shared gate, the channel a webhook request goes into, and what it is (see WebhookTarget). */
  const channelHeader = (target: ChannelTarget, kind: 'post' | 'edit'): Record<string, string> => (o.gate ? webhookTargetHeaders({ channel: target.webhookChannelId, kind }) : {});

  const threadQuery = (target: ChannelTarget, extra: Record<string, string> = {}) =>
    new URLSearchParams({ ...extra, ...(target.threadId ? { thread_id: target.threadId } : {}) });

  /** Someone deleted or reset our webhook: forget the pool so the next use rebuilds it. */
  async function forgetIfGone(target: ChannelTarget, webhookId: string, err: unknown): Promise<boolean> {
    if (!isWebhookGone(err)) return false;
    await pools.forget(target.webhookChannelId, webhookId);
    return true;
  }

  /**
   * A post's webhook, chosen when the shared gate grants a slot: the pool's least busy one with room
   * in its budget, else whichever frees first — among the webhooks of the pool as it is then, so a
   * burst spreads over every webhook, including one added while it waited. (Chosen before waiting,
   * a burst queued on the first webhook, and a streamed reply's edits, which must follow its post,
   * then waited out Discord's per-minute limit.) The pool grows while every webhook is spent.
   */
  async function takeAtGrant(gate: RestGate, channelId: string, personaId: string, overflowAfterMs: number | undefined): Promise<{ hook: StoredWebhook; slot: GateSlot } | 'overflow'> {
    const since = Date.now();
    for (;;) {
      const pool = await pools.choices(channelId, personaId);
      if (pool.length === 0) throw new Error(`no webhook available in channel ${channelId}`);
      const got = await gate.tryAcquire('webhook', pool.map((h) => webhookBucket(h.id, h.token)), MINUTE_CROWDED, { channel: channelId, kind: 'post' });
      if ('release' in got) {
        const hook = pool[got.index]!;
        pools.begin(hook.id);
        if (got.channelMinute !== undefined) pools.noteChannelCalls(channelId, got.channelMinute);
        if (got.lastMinute !== undefined) {
          pools.noteCalls(hook.id, got.lastMinute);
          if (got.lastMinute >= MINUTE_CROWDED) pools.outgrown(channelId, pool.length);
        }
        return { hook, slot: got };
      }
      // Discord holds the channel's webhooks (or its learned limit is reached) for longer than a
      // post should wait: the bot posts it instead.
      if (got.byChannel && overflowAfterMs !== undefined && Date.now() - since + got.waitMs > overflowAfterMs) return 'overflow';
      // Every webhook's budget is spent (not merely being learned): one more would take this post now.
      // (Not when Discord holds the whole channel: another webhook would wait as long.)
      if (got.byBucket && !got.byChannel && got.waitMs > WEBHOOK_WAIT_MS) pools.outgrown(channelId, pool.length);
      // (The global limit frees a slot with every answer: look as often as any other request does.
      // A pause is told exactly.)
      await new Promise((r) => setTimeout(r, Math.min(got.waitMs, got.paused ? 1000 : got.byBucket ? WEBHOOK_POLL_MS : MAX_POLL_MS)));
    }
  }

  /**
   * Per channel, whether the bot may post there, as its last try found (with when), or the try in
   * flight: while one finds out, the others wait for it, so a channel that refuses costs one
   * invalid request per process, not one per post.
   */
  const botMayPost = boundedMap<{ at: number; may: Promise<boolean> }>(REMEMBERED_CHANNELS);

  /**
   * Runs a request into a channel, unarchiving it first if it is a thread Discord archived (50083:
   * an interview left a day, a quiet thread, a forum post its author closed). Webhook posts unarchive
   * a thread by themselves; the bot's posts and every edit (a streamed answer's, too) are refused,
   * and Discord carried nothing out, so asking again is safe. A thread a moderator locked is left
   * locked: chorus may hold Manage Threads, but reopening what a moderator closed is not its call.
   */
  async function inOpenThread<T>(channelId: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      if (!(err instanceof DiscordAPIError && err.code === 50083)) throw err;
      if (await isLocked(channelId)) throw new ThreadLockedError(channelId);
      // (Refused for an unlocked thread: chorus may not send there, Send Messages in Threads.)
      await rest.patch(Routes.channel(channelId), { body: { archived: false }, reason: 'chorus posts here' });
      return request();
    }
  }

  /** Whether a thread is locked by a moderator: read when Discord says it is archived (50083). */
  async function isLocked(threadId: string): Promise<boolean> {
    const thread = (await rest.get(Routes.channel(threadId))) as { thread_metadata?: { locked?: boolean } };
    return thread.thread_metadata?.locked === true;
  }

  /** A message from the bot itself (never pinging anyone); MissingPermissionError where it may not post. */
  async function postAsBot(channelId: string, content: string): Promise<APIMessage> {
    try {
      return await inOpenThread(channelId, async () => (await rest.post(Routes.channelMessages(channelId), { body: { content, allowed_mentions: NO_PINGS } })) as APIMessage);
    } catch (err) {
      if (err instanceof DiscordAPIError && err.status === 403) throw new MissingPermissionError('SendMessages', channelId);
      throw err;
    }
  }

  /**
   * A persona's post made by the bot, for a channel whose webhooks Discord holds: the persona's name
   * on a line of its own, then the words (every piece leaves room for the line: core/split.ts). The
   * bot's own limit in a channel (5 posts per 5 s) is apart from the webhooks' 30 a minute. Undefined
   * when the bot may not post there (tried again after BOT_REFUSED_MS, in case it was granted).
   */
  async function overflowPost(channel: ChannelRef, speaker: Speaker, content: string, ready: Promise<unknown> | undefined, reason: OverflowReason): Promise<PostedMessage | undefined> {
    const known = botMayPost.get(channel.channelId);
    const fresh = known !== undefined && Date.now() - known.at < BOT_REFUSED_MS;
    if (fresh && !(await known.may)) return undefined;
    let found: (may: boolean) => void = () => undefined;
    if (!fresh) botMayPost.set(channel.channelId, { at: Date.now(), may: new Promise((r) => (found = r)) });
    await ready;
    try {
      const message = await postAsBot(channel.channelId, withNameLine(speaker.name, content));
      found(true);
      o.onOverflow?.(reason);
      return { id: message.id, webhookId: BOT_POSTED };
    } catch (err) {
      const refused = err instanceof MissingPermissionError;
      found(!refused);
      if (!refused) throw err;
      botMayPost.set(channel.channelId, { at: Date.now(), may: Promise.resolve(false) });
      o.onWarning?.('the bot may not post in this channel: persona posts wait for its webhooks when Discord holds them', { channelId: channel.channelId });
      return undefined;
    }
  }

  return {
    latest: (channelId, limit) => listMessages(channelId, { limit: String(Math.min(100, limit)) }),

    async postAs(channel, speaker, content, ready) {
      const target = await targetOf(channel);
      // (Undefined once the bot was refused here: the post then waits for the webhooks.)
      let overflowAfterMs = o.overflowAfterMs;
      for (let attempt = 0; ; attempt++) {
        const taken = await (o.gate ? takeAtGrant(o.gate, target.webhookChannelId, speaker.personaId, overflowAfterMs) : pools.take(target.webhookChannelId, speaker.personaId).then((hook) => ({ hook, slot: undefined }))).catch((err: unknown) => {
          if (err instanceof ChannelFullError) return err;
          throw err;
        });
        if (taken instanceof ChannelFullError) {
          // No webhook can be made here: the persona still speaks, through the bot, under its name.
          const posted = await overflowPost(channel, speaker, content, ready, 'full');
          if (posted) return posted;
          throw taken;
        }
        if (taken === 'overflow') {
          const posted = await overflowPost(channel, speaker, content, ready, 'held');
          if (posted) return posted;
          overflowAfterMs = undefined;
          continue;
        }
        const { hook, slot } = taken;
        const held = slot && withHeldSlot(slot);
        const body = { content, username: speaker.name, ...(speaker.avatarUrl ? { avatar_url: speaker.avatarUrl } : {}), allowed_mentions: NO_PINGS };
        try {
          await ready;
          // (The channel is named for a second try after a 429, which takes a slot of its own.)
          const headers = { ...channelHeader(target, 'post'), ...held?.headers };
          const message = (await rest.post(Routes.webhook(hook.id, hook.token), { body, query: threadQuery(target, { wait: 'true' }), auth: false, headers })) as APIMessage;
          return { id: message.id, webhookId: hook.id };
        } catch (err) {
          // A webhook refusing means it is gone: Discord carried nothing out, so posting again is safe.
          if (attempt === 0 && (await forgetIfGone(target, hook.id, err))) continue;
          // Discord refused it for the channel's hidden limit (nothing was posted): the bot posts it,
          // or, where the bot may not, it waits for the hold the gate has learned.
          if (err instanceof ChannelBusyError) {
            const posted = overflowAfterMs === undefined ? undefined : await overflowPost(channel, speaker, content, undefined, 'refused');
            if (posted) return posted;
            overflowAfterMs = undefined;
            continue;
          }
          // A webhook post unarchives a thread, unless a moderator locked it: then nothing is posted there.
          if (target.threadId && err instanceof DiscordAPIError && err.code === 50083 && (await isLocked(target.threadId))) throw new ThreadLockedError(target.threadId);
          throw err;
        } finally {
          held?.drop();
          pools.done(hook.id);
        }
      }
    },

    editAs: (channel, posted, content, speaker) => edit(channel, posted, content, speaker, false),

    async editIfRoom(channel, posted, content, speaker) {
      try {
        await edit(channel, posted, content, speaker, true);
        return true;
      } catch (err) {
        if (err instanceof NoSpareRoomError) return false;
        throw err;
      }
    },

    prepare(channel) {
      targetOf(channel)
        .then((target) => pools.ready(target.webhookChannelId))
        .catch(() => undefined);
    },

    async typing(channelId) {
      const key = `${prefix}:typing:${channelId}`;
      const left = Number(await CLAIM_TYPING(redis, [key], [TYPING_RENEW_MS]));
      if (left > 0) return left;
      try {
        // Cosmetic: it takes only room the global limit has to spare, and never waits for it.
        await rest.post(Routes.channelTyping(channelId), o.gate ? { headers: spareOnlyHeaders() } : {});
        return TYPING_RENEW_MS;
      } catch (err) {
        if (err instanceof NoSpareRoomError) {
          await redis.pexpire(key, TYPING_SKIPPED_MS);
          return TYPING_SKIPPED_MS;
        }
        if (err instanceof DiscordAPIError && err.status === 403) throw new MissingPermissionError('SendMessages', channelId);
        throw err;
      }
    },

    noteWebhookWait: (webhookId, waitedMs) => pools.noteWait(webhookId, waitedMs),
    noteWebhookCalls: (webhookId, lastMinute) => pools.noteCalls(webhookId, lastMinute),
    noteChannelCalls: (channelId, lastMinute) => pools.noteChannelCalls(channelId, lastMinute),
    // (A streamed reply's channel is known here by the time it edits: its preview was posted. A
    // preview the bot posted is edited through the bot's own route, which the webhooks' minute does not limit.)
    editDelay: (channel, webhookId) => (webhookId === BOT_POSTED ? 0 : pools.editDelay(targets.get(channel.channelId)?.webhookChannelId ?? channel.parentId ?? channel.channelId, webhookId)),
    // A stream's preview and edits are extra requests: only for a channel with room, while Discord's
    // limit for webhooks has room to spare (a burst of answers needs it for their posts).
    roomToStream: async (channel) => pools.roomToStream((await targetOf(channel)).webhookChannelId) && (!o.gate || (await o.gate.hasSpare('webhook'))),

    postAsBot,

    async findOwnPost(channel, afterId, username, content) {
      const target = await targetOf(channel);
      const ours = await pools.ids(target.webhookChannelId);
      const botId = await o.identity.botUserId();
      const byBot = (m: APIMessage) => !m.webhook_id && m.author.id === botId;
      const after = BigInt(afterId);
      // Every message after `afterId`, newest page first, back to `afterId`: in a quiet channel one
      // request, and in a busy one the post is found however many messages followed it (up to a cap).
      let before: string | undefined;
      for (let page = 0; page < OWN_POST_PAGES; page++) {
        const messages = await listMessages(channel.channelId, { limit: '100', ...(before ? { before } : {}) });
        const found = messages.find(
          (m) =>
            BigInt(m.id) > after &&
            (username === null
              ? byBot(m) && m.content === content
              : (m.webhook_id !== undefined && ours.has(m.webhook_id) && m.author.username === username && m.content === content) || (byBot(m) && m.content === withNameLine(username, content))),
        );
        if (found) return { id: found.id, webhookId: found.webhook_id ?? BOT_POSTED };
        const oldest = messages[0];
        if (messages.length < 100 || !oldest || BigInt(oldest.id) <= after) return undefined;
        before = oldest.id;
      }
      o.onWarning?.('a post whose answer was lost was not found among the messages looked through; it will be sent again', { channelId: channel.channelId, afterId, messages: OWN_POST_PAGES * 100 });
      return undefined;
    },
  };
}
