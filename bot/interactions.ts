// A slash command or autocomplete as the commands see it: its options, who ran it and where, what
// they may do there, and the ways to answer — the interaction callback and its follow-up edits,
// over REST. Built from the raw INTERACTION_CREATE the gateway reads (bot/payloads.ts).
import { clipText } from '../core/split.ts';
import { DiscordAPIError, type RawFile, type REST } from '../core/discord-rest.ts';
import {
  ApplicationCommandOptionType,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
  Routes,
  type APIApplicationCommandInteractionDataOption,
  type APIMessage,
} from 'discord-api-types/v10';
import { NO_PINGS } from '../core/discord.ts';
import { snowflakeTime } from '../core/messages.ts';
import { has, type PermissionName } from '../core/permissions.ts';
import { displayName, type Interaction } from './payloads.ts';

/**
 * Discord no longer takes answers to this interaction: its first answer came after the 3 seconds
 * Discord waits (10062: a command replayed after a restart, a gateway stalled), or its token's 15
 * minutes are over (50027). Nothing more can be said through it.
 */
export class InteractionExpiredError extends Error {
  override name = 'InteractionExpiredError';
  readonly ageMs: number;
  constructor(what: string, ageMs: number) {
    super(`${what}: Discord no longer takes answers to this interaction (${Math.round(ageMs / 1000)} s old)`);
    this.ageMs = ageMs;
  }
}

/** Unknown interaction (the first answer came too late), invalid webhook token (15 minutes over). */
const EXPIRED_CODES = new Set([10062, 50027]);

export interface AnswerFile {
  name: string;
  data: Buffer;
}

export interface Answer {
  content: string;
  files?: AnswerFile[];
}

export interface CommandContext {
  /** The interaction's id: the same when a gateway replays it after a crash. */
  interactionId: string;
  commandName: string;
  isAutocomplete: boolean;
  /** The subcommand chosen, if the command has them. */
  subcommand: string | undefined;
  string(name: string): string | undefined;
  number(name: string): number | undefined;
  /** The option being typed, for autocomplete. */
  focused(): string;
  user: { id: string; name: string };
  /** The member's roles in the guild (for permissions across the whole server). */
  memberRoles: string[];
  guildId: string | undefined;
  channelId: string;
  /** The thread's parent, when the command ran in a thread. */
  parentId: string | undefined;
  channelType: number | undefined;
  channelName: string | undefined;
  /** What the member may do in this channel (Discord computes it, overwrites included). */
  memberCan(permission: PermissionName): boolean;
  /** What chorus itself may do in this channel, as Discord says with the interaction (true when it does not say). */
  botCan(permission: PermissionName): boolean;
  /** The largest answer with files Discord takes here, in bytes (the server's upload limit). */
  attachmentLimit: number;
  /** Replies at once (within Discord's 3 s). */
  reply(answer: string | Answer, opts?: { ephemeral?: boolean }): Promise<void>;
  /** Acknowledges now and answers later with `edit`. */
  defer(opts?: { ephemeral?: boolean }): Promise<void>;
  /** Sets the (deferred or given) answer; resolves with the message it shows. */
  edit(answer: string | Answer): Promise<APIMessage>;
  /** Autocomplete choices. */
  respond(choices: { name: string; value: string }[]): Promise<void>;
  answered: boolean;
  /**
   * Whether an answer an earlier run gave stands: Discord said the interaction was acknowledged
   * already (a gateway got it again after a crash), this run has not changed the answer, and Discord
   * shows a whole one, not a deferred "thinking…" (asked of Discord).
   */
  firstAnswerStands(): Promise<boolean>;
}

type Option = APIApplicationCommandInteractionDataOption;

function leafOptions(options: Option[] | undefined): { subcommand?: string; options: Option[] } {
  const first = options?.[0];
  if (first && (first.type === ApplicationCommandOptionType.Subcommand || first.type === ApplicationCommandOptionType.SubcommandGroup)) {
    const inner = leafOptions(first.options as Option[] | undefined);
    return { subcommand: inner.subcommand ?? first.name, options: inner.options };
  }
  return { options: options ?? [] };
}

/** Discord refuses a message over 2,000 characters (50035): an answer echoing a long option is cut, not lost. */
const MAX_CONTENT = 2000;
const clip = (s: string) => clipText(s, MAX_CONTENT);
const asAnswer = (a: string | Answer): Answer => (typeof a === 'string' ? { content: clip(a) } : { ...a, content: clip(a.content) });
const files = (a: Answer): RawFile[] | undefined => a.files?.map((f) => ({ name: f.name, data: f.data }));

export function commandContext(i: Interaction, rest: REST, parentId: string | undefined): CommandContext {
  const data = (i.data ?? {}) as { name?: string; options?: Option[] };
  const { subcommand, options } = leafOptions(data.options);
  const option = (name: string) => options.find((o) => o.name === name) as (Option & { value?: unknown; focused?: boolean }) | undefined;
  const person = i.member?.user ?? i.user;
  if (!person) throw new Error('an interaction without a user');
  const flags = (ephemeral?: boolean) => (ephemeral ? MessageFlags.Ephemeral : 0);
  // An interaction a gateway replayed after a crash was answered already (40060): that first answer
  // stands, and the command goes on to finish its work (each step of which knows it may run twice).
  const expired = (err: unknown, what: string) => (err instanceof DiscordAPIError && EXPIRED_CODES.has(Number(err.code)) ? new InteractionExpiredError(what, Date.now() - snowflakeTime(i.id)) : err);
  const callback = async (body: unknown, extra: { files?: RawFile[] } = {}) => {
    try {
      await rest.post(Routes.interactionCallback(i.id, i.token), { body, ...(extra.files ? { files: extra.files } : {}), auth: false });
    } catch (err) {
      if (!(err instanceof DiscordAPIError && err.code === 40060)) throw expired(err, 'first answer');
      replayed = true;
    }
  };
  let replayed = false;
  let editedHere = false;
  // Whether the answer shows to everyone: only then may it go to the channel when the token has expired.
  let publicAnswer = false;
  const ctx: CommandContext = {
    interactionId: i.id,
    commandName: data.name ?? '',
    isAutocomplete: i.type === InteractionType.ApplicationCommandAutocomplete,
    subcommand,
    string: (name) => {
      const v = option(name)?.value;
      return typeof v === 'string' ? v : v === undefined ? undefined : String(v);
    },
    number: (name) => {
      const v = option(name)?.value;
      return typeof v === 'number' ? v : undefined;
    },
    focused: () => String((options.find((o) => 'focused' in o && o.focused) as { value?: unknown } | undefined)?.value ?? ''),
    user: { id: person.id, name: displayName(person, i.member ?? undefined) },
    memberRoles: i.member?.roles ?? [],
    guildId: i.guild_id,
    channelId: i.channel_id ?? i.channel?.id ?? '',
    parentId,
    channelType: i.channel?.type,
    channelName: i.channel?.name,
    // No member: not in a server (a DM), where no moderator's command applies.
    memberCan: (permission) => (i.member ? has(i.member.permissions, permission) : false),
    botCan: (permission) => (i.app_permissions === undefined || i.app_permissions === null ? true : has(i.app_permissions, permission)),
    // Discord says it in every interaction; 10 MiB is an unboosted server's.
    attachmentLimit: i.attachment_size_limit ?? 10 * 1024 * 1024,
    answered: false,
    // `answered` once Discord took the callback: a callback that failed leaves the interaction unanswered.
    async reply(answer, opts = {}) {
      const a = asAnswer(answer);
      const attached = files(a);
      await callback({ type: InteractionResponseType.ChannelMessageWithSource, data: { content: a.content, flags: flags(opts.ephemeral), allowed_mentions: NO_PINGS } }, attached ? { files: attached } : {});
      ctx.answered = true;
      publicAnswer = !opts.ephemeral;
    },
    async defer(opts = {}) {
      await callback({ type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: flags(opts.ephemeral) } });
      ctx.answered = true;
      publicAnswer = !opts.ephemeral;
    },
    async edit(answer) {
      const a = asAnswer(answer);
      const body = { content: a.content, allowed_mentions: NO_PINGS, ...(a.files ? { attachments: a.files.map((f, n) => ({ id: n, filename: f.name })) } : {}) };
      try {
        const shown = (await rest.patch(Routes.webhookMessage(i.application_id, i.token, '@original'), { body, files: files(a), auth: false })) as APIMessage;
        editedHere = true;
        return shown;
      } catch (err) {
        const gone = expired(err, 'answer');
        // The work is done (a thread opened, a transcript exported) but the token's 15 minutes are
        // over: a public answer is posted in the channel by the bot instead; a private one cannot be.
        if (!(gone instanceof InteractionExpiredError) || !publicAnswer || !ctx.channelId) throw gone;
        try {
          return (await rest.post(Routes.channelMessages(ctx.channelId), { body, files: files(a) })) as APIMessage;
        } catch (cause) {
          // The bot may not post there (interactions are answered where it cannot speak): said once, in the log.
          throw Object.assign(gone, { cause });
        }
      }
    },
    async firstAnswerStands() {
      if (!replayed || editedHere) return false;
      const shown = (await rest.get(Routes.webhookMessage(i.application_id, i.token, '@original'), { auth: false })) as APIMessage;
      return ((shown.flags ?? 0) & MessageFlags.Loading) === 0;
    },
    async respond(choices) {
      // Discord takes at most 25 choices, each name 1–100 characters (values are ids, kept shorter).
      await callback({ type: InteractionResponseType.ApplicationCommandAutocompleteResult, data: { choices: choices.slice(0, 25).map((c) => ({ ...c, name: c.name.slice(0, 100) })) } });
      ctx.answered = true;
    },
  };
  return ctx;
}
