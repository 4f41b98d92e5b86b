// Posting exactly once, whatever crashed or went unanswered before. Every post chorus makes — a
// reply's pieces, a streaming preview, an interview's questions and notices — goes through here:
// the ledger says which pieces are posted (an unfinished one is edited into its final text), and a
// piece whose post was sent but never confirmed is looked for in the channel, by the exact content
// sent, before it is sent again. Nothing below this (no REST retry) repeats a post on its own.
import { BOT_POSTED, isWebhookGone, type ChannelRef, type DiscordEdge, type PostedMessage, type Speaker } from '../core/discord.ts';
import type { Ledger, ReplyProgress } from '../core/ledger.ts';

export interface PostTarget {
  channel: ChannelRef;
  /** The ledger entry the pieces belong to: a (message, persona) pair, or any stable key and who. */
  key: string;
  who: string;
  /** Chain depth recorded with each post. */
  depth: number;
  /** A notice rather than a model's words: remembered so no model reads it as conversation. */
  notice: boolean;
  /** Posts as this persona (webhook); absent, as the bot itself. */
  speaker?: Speaker;
  /** The message the posts come after: where to look for one whose answer was lost. */
  after: string;
}

export interface PostDeps {
  discord: DiscordEdge;
  ledger: Ledger;
}

/**
 * Makes piece `index` show `content`: posts it, or edits the post already there. `final: false`
 * marks a streaming preview, which a later call edits into the final text.
 */
export async function postPiece(deps: PostDeps, target: PostTarget, index: number, content: string, progress: ReplyProgress, final = true): Promise<PostedMessage> {
  const { discord, ledger } = deps;
  const record = (posted: PostedMessage) =>
    ledger.recordPost(target.key, target.who, index, { messageId: posted.id, webhookId: posted.webhookId, final }, { depth: target.depth, notice: target.notice });
  const known = progress.posted.get(index);
  // Where a post of this piece may be that the ledger does not know of: one whose answer was lost.
  let sent = progress.pending.get(index);
  if (known) {
    const posted = { id: known.messageId, webhookId: known.webhookId };
    if (known.final) return posted;
    const finished = await discord.editAs(target.channel, posted, content, target.speaker).then(
      () => true,
      (err: unknown) => {
        if (isWebhookGone(err)) return false;
        throw err;
      },
    );
    if (finished) {
      if (final) await record(posted);
      return posted;
    }
    // Its webhook was deleted (or reset) meanwhile, so the preview cannot be finished: the piece is
    // posted afresh through a webhook the pool makes anew, rather than left half-said. (The preview
    // stays: only its webhook could delete it.) An earlier try may have posted it already.
    sent = content;
  }
  if (sent !== undefined) {
    const found = await discord.findOwnPost(target.channel, target.after, target.speaker?.name ?? null, sent);
    if (found) {
      if (sent !== content) await discord.editAs(target.channel, found, content, target.speaker);
      await record(found);
      return found;
    }
  }
  // Marked before it is sent: the edge waits for a webhook and a slot meanwhile, and sends only once
  // the mark is in Redis (a round trip less before the post shows).
  const marked = ledger.markPending(target.key, target.who, index, content);
  marked.catch(() => undefined); // awaited below on both paths
  const posted = target.speaker ? await discord.postAs(target.channel, target.speaker, content, marked) : { id: (await marked.then(() => discord.postAsBot(target.channel.channelId, content))).id, webhookId: BOT_POSTED };
  await record(posted);
  return posted;
}

/** Posts what is missing of `pieces`, in order, finalising a preview; never repeats a piece. */
export async function postPieces(deps: PostDeps, target: PostTarget, pieces: readonly string[], progress: ReplyProgress): Promise<PostedMessage[]> {
  const posts: PostedMessage[] = [];
  for (const [index, piece] of pieces.entries()) posts.push(await postPiece(deps, target, index, piece, progress));
  return posts;
}
