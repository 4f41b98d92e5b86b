// What the page needs to draw one message the way Discord's client does: who posted it (a person,
// a persona through a webhook, or the chorus app), its avatar, the message it replies to, the command
// it answers, and whether only the visitor sees it. Pure.
import type { StandInChannel, StandInMessage } from '../local-discord/server.ts';
import { avatarPath } from './avatars.ts';

export interface MessageView {
  id: string;
  channelId: string;
  timestamp: string;
  edited: boolean;
  author: { id: string; name: string; avatarUrl: string; kind: 'person' | 'persona' | 'app' };
  content: string;
  /** A reply's target, as Discord shows it above the message; null when it was deleted. */
  reply?: { id: string; author: string; avatarUrl: string; content: string } | null;
  /** The slash command this message answers ("Alice used /ask"). */
  command?: { by: string; line: string };
  /** Only the visitor sees it (an ephemeral interaction answer). */
  ephemeral: boolean;
  /** A deferred answer not given yet ("chorus is thinking…"). */
  thinking: boolean;
  /** A system message Discord draws in its own style (18: a thread was started). */
  system?: { kind: 'thread'; threadId: string; name: string } | { kind: 'other'; type: number };
}

export interface ChannelView {
  id: string;
  name: string;
  /** The parent channel, for a thread. */
  parentId: string | null;
  thread: boolean;
}

export interface ViewContext {
  /** The app (bot) user's id. */
  appId: string;
  lookup(id: string): StandInMessage | undefined;
  /** The command line the visitor typed for an interaction, when this page ran it. */
  commandLine(interactionId: string): string | undefined;
  channelName(id: string): string | undefined;
}

const EPHEMERAL = 1 << 6;
const LOADING = 1 << 7;

function authorOf(m: StandInMessage, appId: string): MessageView['author'] {
  // Interaction answers come through the app's own webhook: they are the app's, not a persona's.
  if (m.webhook_id && m.application_id !== appId && m.webhook_id !== appId) {
    return { id: m.author.id, name: m.author.username, avatarUrl: m.avatar_url ?? avatarPath(m.author.username), kind: 'persona' };
  }
  const name = m.author.global_name ?? m.author.username;
  return { id: m.author.id, name, avatarUrl: avatarPath(name), kind: m.author.id === appId || m.author.bot ? 'app' : 'person' };
}

export function messageView(m: StandInMessage, ctx: ViewContext): MessageView {
  const view: MessageView = {
    id: m.id,
    channelId: m.channel_id,
    timestamp: m.timestamp,
    edited: m.edited_timestamp !== null,
    author: authorOf(m, ctx.appId),
    content: m.content,
    ephemeral: (m.flags & EPHEMERAL) !== 0,
    thinking: (m.flags & LOADING) !== 0,
  };
  const refId = m.message_reference?.message_id;
  if (m.type === 19 && refId) {
    const target = ctx.lookup(refId);
    const who = target && !target.deleted ? authorOf(target, ctx.appId) : undefined;
    view.reply = target && who ? { id: target.id, author: who.name, avatarUrl: who.avatarUrl, content: target.content.slice(0, 120) } : null;
  }
  const interaction = m.interaction_metadata as { id?: string; user?: { username?: string; global_name?: string | null } | null } | undefined;
  if (interaction?.id) {
    const by = interaction.user?.global_name ?? interaction.user?.username ?? 'someone';
    view.command = { by, line: ctx.commandLine(interaction.id) ?? 'a command' };
  }
  if (m.type === 18) {
    const threadId = m.message_reference?.channel_id ?? '';
    view.system = { kind: 'thread', threadId, name: ctx.channelName(threadId) ?? m.content };
  } else if (m.type !== 0 && m.type !== 19) {
    view.system = { kind: 'other', type: m.type };
  }
  return view;
}

export function channelView(c: StandInChannel): ChannelView {
  const thread = c.type === 11 || c.type === 12;
  return { id: c.id, name: c.name, parentId: thread ? c.parent_id : null, thread };
}
