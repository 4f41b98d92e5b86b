// The typing indicator while a reply has nothing to show: from TYPING_DELAY_MS on (a quick model needs
// none, and each indicator is a REST call), renewed for as long as the model takes. The edge shares
// one indicator per channel among every reply waiting there, from every worker.
import type { DiscordEdge } from '../core/discord.ts';
import { describeError, type Logger } from '../core/log.ts';
import { MissingPermissionError } from '../core/rest.ts';

/** How long a reply may take to show anything before the typing indicator is worth a request. */
export const TYPING_DELAY_MS = 300;

export interface TypingDeps {
  discord: Pick<DiscordEdge, 'typing'>;
  /** Told when the bot may not even type here (it may not send messages either). */
  refused(): Promise<unknown>;
  log: Logger;
}

/** Starts showing typing in the channel after the delay; `stop` when the reply shows or fails. Never throws. */
export function keepTyping(channelId: string, deps: TypingDeps): { stop(): void } {
  let stopped = false;
  const show = async () => {
    try {
      const renewIn = await deps.discord.typing(channelId);
      if (!stopped) timer = setTimeout(() => void show(), renewIn);
    } catch (err) {
      // Cosmetic: a failed indicator is not tried again for this reply.
      if (err instanceof MissingPermissionError) await deps.refused().catch(() => undefined);
      deps.log.debug({ err: describeError(err).message }, 'typing indicator failed');
    }
  };
  let timer = setTimeout(() => void show(), TYPING_DELAY_MS);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
