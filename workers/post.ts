// Posting a reply's pieces exactly once, whatever crashed before: the ledger says which pieces are
// posted (a streamed preview is edited into its final text), and a piece whose post was sent but
// not recorded is looked for in the channel before it is sent again.
import type { DiscordEdge, PostedMessage, Speaker } from '../core/discord.ts';
import type { Ledger, ReplyProgress } from '../core/ledger.ts';

export interface PostTarget {
  channelId: string;
  /** The ledger entry the pieces belong to: a (message, persona) pair, or any stable key and who. */
  key: string;
  who: string;
  /** Chain depth recorded with each post. */
  depth: number;
  /** Posts as this persona (webhook); absent, as the bot itself. */
  speaker?: Speaker;
  /** A message the posts come after: where to look for one a crashed attempt sent. */
  after?: string;
}

export async function postPieces(deps: { discord: DiscordEdge; ledger: Ledger }, target: PostTarget, pieces: readonly string[], progress: ReplyProgress): Promise<PostedMessage[]> {
  const { discord, ledger } = deps;
  const { channelId, key, who, depth, speaker, after } = target;
  const posts: PostedMessage[] = [];
  for (const [index, piece] of pieces.entries()) {
    const known = progress.posted.get(index);
    let posted: PostedMessage | undefined = known && { id: known.messageId, webhookId: known.webhookId };
    if (known && posted) {
      if (!known.final) {
        await discord.editAs(channelId, posted, piece);
        await ledger.recordPost(key, who, index, { messageId: posted.id, webhookId: posted.webhookId, final: true }, depth);
      }
    } else {
      if (progress.pending.has(index) && speaker && after) posted = await findOwnPost(discord, channelId, after, speaker.name, piece);
      if (!posted) {
        await ledger.markPending(key, who, index);
        posted = speaker ? await discord.postAs(channelId, speaker, piece) : { id: (await discord.postAsBot(channelId, piece)).id, webhookId: 'bot' };
      }
      await ledger.recordPost(key, who, index, { messageId: posted.id, webhookId: posted.webhookId, final: true }, depth);
    }
    posts.push(posted);
  }
  return posts;
}

/** A previous attempt sent this piece but died before recording it: find it before posting again. */
async function findOwnPost(discord: DiscordEdge, channelId: string, afterId: string, username: string, content: string): Promise<PostedMessage | undefined> {
  const ours = new Set(await discord.webhookIds(channelId));
  const after = await discord.messagesAfter(channelId, afterId, 100);
  const found = after.find((m) => m.webhook_id && ours.has(m.webhook_id) && m.author.username === username && m.content === content);
  return found?.webhook_id ? { id: found.id, webhookId: found.webhook_id } : undefined;
}
