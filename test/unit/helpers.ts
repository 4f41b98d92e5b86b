import type { ChannelMessage } from '../../core/messages.ts';
import type { z } from 'zod';
import { HostSchema, PersonaSchema, type Host, type Persona } from '../../personas/schema.ts';

export function persona(overrides: Partial<z.input<typeof PersonaSchema>> & { id: string; name: string }): Persona {
  return PersonaSchema.parse({ hosts: [{ provider: 'anthropic', model: 'claude-test' }], ...overrides });
}

let seq = 100;
export function msg(authorName: string, content: string, extra: Partial<ChannelMessage> = {}): ChannelMessage {
  seq += 1;
  return { id: String(seq), authorId: `u-${authorName}`, authorName, content, isBot: Boolean(extra.personaId), createdAt: new Date(seq * 1000).toISOString(), ...extra };
}

export function host(h: z.input<typeof HostSchema>): Host {
  return HostSchema.parse(h);
}
