// The test API for what people do in the stand-in: speak, edit, delete, start threads, run commands.
import { makeAttachments } from './cdn.ts';
import { channelById, rememberUser } from './core.ts';
import type { Core } from './core.ts';
import { dispatchInteraction, hasFocused } from './interactions.ts';
import { createMessage, deleteMessage, editMessage } from './messages.ts';
import type { StandInUser } from './model.ts';
import { setArchived, startThread, systemMessage } from './system.ts';
import type { Author, DiscordStandIn } from './types.ts';

type People = Pick<DiscordStandIn, 'userSays' | 'userEdits' | 'userDeletes' | 'userCreatesThread' | 'systemMessage' | 'userRunsCommand' | 'userAutocompletes'>;

export function createPeople(core: Core, defaultChannelId: string): People {
  /** The author as a member of the channel's guild (people become members when first seen there). */
  const person = (channelId: string, author?: Author): StandInUser => {
    const guildId = channelById(core, channelId).guild_id;
    const u = author ? { id: author.id, username: author.username, global_name: author.global_name ?? null } : (core.users.get(core.defaultUserId) as StandInUser);
    return rememberUser(core, u, guildId);
  };
  const existing = (messageId: string) => {
    const m = core.messageById.get(messageId);
    if (!m || m.deleted) throw new Error(`stand-in: unknown message ${messageId}`);
    return m;
  };

  return {
    async userSays(o) {
      const chan = o.channelId ?? defaultChannelId;
      const author = person(chan, o.author);
      if (o.replyTo) existing(o.replyTo);
      const attachments = o.attachments?.length ? makeAttachments(core, chan, o.attachments) : undefined;
      setArchived(core, channelById(core, chan), false); // a member's message unarchives its thread
      return createMessage(core, { channelId: chan, content: o.content, author, replyTo: o.replyTo, attachments, extra: o.extra });
    },
    async userEdits(messageId, content) {
      return editMessage(core, existing(messageId), { content });
    },
    async userDeletes(messageId) {
      deleteMessage(core, existing(messageId));
    },
    async userCreatesThread(o) {
      const parentId = o.channelId ?? defaultChannelId;
      const { thread, message } = startThread(core, { parentId, name: o.name, type: 11, author: person(parentId, o.author) });
      if (!message) throw new Error('stand-in: a public thread posts THREAD_CREATED');
      return { threadId: thread.id, message };
    },
    async systemMessage(o) {
      const chan = o.channelId ?? defaultChannelId;
      return systemMessage(core, { ...o, channelId: chan, author: person(chan, o.author) });
    },
    async userRunsCommand(o) {
      const chan = o.channelId ?? defaultChannelId;
      const i = dispatchInteraction(core, { type: 2, name: o.name, options: o.options, channelId: chan, user: person(chan, o.author), permissions: o.permissions });
      return { id: i.id, token: i.token };
    },
    userAutocompletes(o) {
      if (!hasFocused(o.options)) throw new Error('stand-in: an autocomplete needs an option with focused: true');
      const chan = o.channelId ?? defaultChannelId;
      return new Promise((resolve) => {
        dispatchInteraction(core, {
          type: 4,
          name: o.name,
          options: o.options,
          channelId: chan,
          user: person(chan, o.author),
          permissions: o.permissions,
          onCallback: (body) => resolve((((body.data ?? {}) as { choices?: unknown }).choices ?? []) as { name: string; value: string | number }[]),
        });
      });
    },
  };
}
