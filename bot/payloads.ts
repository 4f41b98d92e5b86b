// The gateway's reading of Discord's dispatches: only the fields chorus uses, each checked. Discord
// documents many fields as optional and other servers send null where Discord would leave a field
// out, so every field chorus does not need to be present is read as "absent or null". A payload
// that still does not fit is one bad event: the caller logs it and goes on. Pure.
import { z } from 'zod';
import { readableContent, repliedToId, withForwarded, type Attachment, type ChannelMessage } from '../core/messages.ts';

const id = z.string().regex(/^\d+$/);
const maybe = <T extends z.ZodType>(t: T) => t.nullish().transform((v) => v ?? undefined);

const User = z.object({
  id,
  username: z.string(),
  global_name: maybe(z.string()),
  bot: maybe(z.boolean()),
});
const Member = z.object({ nick: maybe(z.string()), roles: maybe(z.array(id)), permissions: maybe(z.string()) });

export { SPOKEN_TYPES } from '../core/messages.ts';

/** A forward's words (its own content is empty): message_snapshots[].message. */
const Snapshots = maybe(z.array(z.object({ message: maybe(z.object({ content: maybe(z.string()) })) })));

export const MessageCreate = z.object({
  id,
  channel_id: id,
  guild_id: maybe(id),
  type: z.number().int(),
  author: User,
  member: maybe(Member),
  content: maybe(z.string()),
  webhook_id: maybe(id),
  timestamp: z.string(),
  mentions: maybe(z.array(User.extend({ member: maybe(Member) }))),
  mention_roles: maybe(z.array(id)),
  attachments: maybe(z.array(z.object({ filename: z.string(), url: z.string(), content_type: maybe(z.string()) }))),
  message_reference: maybe(z.object({ message_id: maybe(id), type: maybe(z.number().int()) })),
  message_snapshots: Snapshots,
});
export type MessageCreate = z.infer<typeof MessageCreate>;

/** An edit may carry only some fields; id and channel are always there. */
export const MessageUpdate = z.object({
  id,
  channel_id: id,
  guild_id: maybe(id),
  type: maybe(z.number().int()),
  author: maybe(User),
  member: maybe(Member),
  content: maybe(z.string()),
  /** When the words were last edited: what tells one edit from another (the words may come back). */
  edited_timestamp: maybe(z.string()),
  webhook_id: maybe(id),
  mentions: maybe(z.array(User.extend({ member: maybe(Member) }))),
  mention_roles: maybe(z.array(id)),
  message_snapshots: Snapshots,
});

export type MessageUpdate = z.infer<typeof MessageUpdate>;

export const MessageDelete = z.object({ id, channel_id: id, guild_id: maybe(id) });
export const MessageDeleteBulk = z.object({ ids: z.array(id), channel_id: id, guild_id: maybe(id) });

const Overwrite = z.object({ id, type: z.number().int(), allow: z.string(), deny: z.string() });
export const Channel = z.object({
  id,
  type: z.number().int(),
  guild_id: maybe(id),
  parent_id: maybe(id),
  name: maybe(z.string()),
  permission_overwrites: maybe(z.array(Overwrite)),
  // null: no message was ever sent here; absent or odd: unknown (then history is read from Discord).
  last_message_id: z.union([id, z.null()]).optional().catch(undefined),
});
export type Channel = z.infer<typeof Channel>;

export const Role = z.object({ id, name: z.string(), permissions: z.string(), position: z.number().int() });
export type Role = z.infer<typeof Role>;

export const GuildCreate = z.object({
  id,
  unavailable: maybe(z.boolean()),
  joined_at: maybe(z.string()),
  owner_id: maybe(id),
  roles: maybe(z.array(Role)),
  channels: maybe(z.array(Channel)),
  threads: maybe(z.array(Channel)),
});
export const GuildRoleEvent = z.object({ guild_id: id, role: Role });
export const GuildRoleDelete = z.object({ guild_id: id, role_id: id });
export const GuildMemberUpdate = z.object({ guild_id: id, user: z.object({ id }), roles: maybe(z.array(id)) });
export const ThreadListSync = z.object({ guild_id: id, threads: maybe(z.array(Channel)) });

export const Ready = z.object({
  session_id: z.string(),
  user: z.object({ id, username: z.string() }),
  application: maybe(z.object({ id })),
  guilds: maybe(z.array(z.object({ id }))),
  /** [this shard, shard count], as the session was identified. */
  shard: maybe(z.tuple([z.number().int(), z.number().int()])),
});

export const Interaction = z.object({
  id,
  application_id: id,
  type: z.number().int(),
  token: z.string(),
  guild_id: maybe(id),
  channel_id: maybe(id),
  channel: maybe(z.object({ id, type: z.number().int(), parent_id: maybe(id), name: maybe(z.string()) })),
  member: maybe(Member.extend({ user: User })),
  user: maybe(User),
  app_permissions: maybe(z.string()),
  data: maybe(z.unknown()),
  /** The largest request with files Discord takes here (the server's upload limit). */
  attachment_size_limit: maybe(z.number().int().positive()),
});
export type Interaction = z.infer<typeof Interaction>;

/** A person's name as Discord shows it: their server nickname, else their display name, else the username. */
export function displayName(user: { username: string; global_name?: string | undefined }, member?: { nick?: string | undefined }): string {
  return member?.nick ?? user.global_name ?? user.username;
}

/** The message as the context builder reads it: display names, readable mentions. */
export function toChannelMessage(m: MessageCreate, roleName: (roleId: string) => string | undefined): ChannelMessage {
  const users = (m.mentions ?? []).map((u) => ({ id: u.id, name: displayName(u, u.member) }));
  const roles = (m.mention_roles ?? []).map((r) => ({ id: r, name: roleName(r) ?? 'unknown-role' }));
  const attachments: Attachment[] = (m.attachments ?? []).map((a) => ({ name: a.filename, url: a.url, ...(a.content_type ? { contentType: a.content_type } : {}) }));
  const replyToId = repliedToId(m.message_reference);
  return {
    id: m.id,
    authorId: m.author.id,
    authorName: displayName(m.author, m.member),
    content: readableContent(withForwarded(m.content ?? '', m.message_snapshots), users, roles),
    isBot: Boolean(m.author.bot || m.webhook_id),
    createdAt: new Date(m.timestamp).toISOString(),
    ...(replyToId ? { replyToId } : {}),
    ...(attachments.length ? { attachments } : {}),
  };
}
