// The first message a gateway handles would otherwise run its path cold: zod builds each parser on
// its first use and V8 compiles each function when it is first called, ~10 ms together on the first
// message after a start. Run once on a made-up message before Discord's events arrive. Pure.
import { route } from '../core/route.ts';
import type { Settings } from '../core/settings.ts';
import type { Persona } from '../personas/schema.ts';
import { MessageCreate, toChannelMessage } from './payloads.ts';

/** A MESSAGE_CREATE as Discord sends it (nulls where a field is empty), naming `name`. */
export function sampleMessage(name: string): unknown {
  return {
    id: '1000000000000000001',
    channel_id: '1000000000000000002',
    guild_id: '1000000000000000003',
    type: 0,
    author: { id: '1000000000000000004', username: 'warm-up', global_name: null, bot: false },
    member: { nick: null, roles: [] },
    content: `${name}, are you there?`,
    webhook_id: null,
    timestamp: new Date(0).toISOString(),
    mentions: [],
    mention_roles: [],
    attachments: [],
    message_reference: null,
  };
}

export function warmUp(personas: readonly Persona[], settings: Settings): void {
  const named = personas[0]?.name ?? 'nobody';
  // Three times: V8 optimises what runs repeatedly, and zod's parsers settle after their first runs.
  for (let i = 0; i < 3; i++) {
    const m = MessageCreate.parse(sampleMessage(named));
    const trigger = toChannelMessage(m, () => undefined);
    route(
      { content: trigger.content, author: { kind: 'human' }, mentions: [] },
      personas,
      { ...settings, lastPostAt: new Map(), ambientRepliesLastMinute: 0 },
      { maxPerMessage: 3, now: Date.now(), random: () => 1 },
    );
  }
}
