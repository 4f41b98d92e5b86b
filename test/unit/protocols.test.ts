import { describe, expect, it } from 'vitest';
import { checkProtocolPersonas, loadProtocols, parseProtocol, ProtocolFileError } from '../../protocols/schema.ts';
import { PersonaSchema } from '../../personas/schema.ts';

const good = `
id: p1
title: A protocol
purpose: To test.
disclosure: { text: "This is recorded." }
interviewer: { kind: auditor, persona: opus, instructions: "Be neutral." }
mode: blind
questions: [ "First?", "Second?" ]
`;

describe('protocol files', () => {
  it('accepts a good file and fills defaults', () => {
    const p = parseProtocol('p1.yaml', good);
    expect(p.disclosure.toModels).toBe(true);
    expect(p.interviewer).toEqual({ kind: 'auditor', persona: 'opus', instructions: 'Be neutral.', followUpLimit: 2 });
    expect(p.mode).toBe('blind');
  });

  it('refuses bad files with the file, the field and the reason', () => {
    expect(() => parseProtocol('protocols/x.yaml', good.replace('mode: blind', 'mode: shuffled'))).toThrow(/protocols\/x\.yaml[\s\S]*mode: Invalid option/);
    expect(() => parseProtocol('x.yaml', good.replace('[ "First?", "Second?" ]', '[]'))).toThrow(/questions: Too small/);
    expect(() => parseProtocol('x.yaml', good.replace('kind: auditor', 'kind: robot'))).toThrow(/interviewer\.kind/);
    expect(() => parseProtocol('x.yaml', good.replace('instructions: "Be neutral."', 'instructions: "Be neutral.", followUpLimit: -1'))).toThrow(/interviewer\.followUpLimit/);
    expect(() => parseProtocol('x.yaml', 'id: [')).toThrow(ProtocolFileError);
  });

  it('loads the shipped examples', async () => {
    const protocols = await loadProtocols('protocols');
    expect([...protocols.keys()].sort()).toEqual(['auditor-preferences', 'deprecation-study', 'retirement']);
    expect(protocols.get('retirement')?.text).toContain('On being retired');
  });

  it('refuses, at start, a protocol whose auditor is not a persona', () => {
    const protocol = parseProtocol('p1.yaml', good);
    const gpt = PersonaSchema.parse({ id: 'gpt', name: 'GPT', hosts: [{ provider: 'openai', model: 'm' }] });
    expect(() => checkProtocolPersonas(new Map([['p1', { protocol, text: good }]]), [gpt])).toThrow(/protocol p1: interviewer.persona "opus" is not a persona \(known: gpt\)/);
    const opus = PersonaSchema.parse({ id: 'opus', name: 'Opus', hosts: [{ provider: 'anthropic', model: 'm' }] });
    expect(() => checkProtocolPersonas(new Map([['p1', { protocol, text: good }]]), [gpt, opus])).not.toThrow();
  });
});
