import { describe, expect, it } from 'vitest';
import { campaignProblems, expandCampaign, interviewerChoice, parseCampaign, withStance } from '../../core/campaign.ts';
import { parseProtocol } from '../../protocols/schema.ts';
import { persona } from './helpers.ts';

const protocol = parseProtocol(
  'p.yaml',
  `
id: p
title: T
purpose: P
disclosure: { text: "Recorded." }
interviewer: { kind: auditor, persona: aud, instructions: "Be neutral." }
questions: [ "One?" ]
judging: { judges: [judge], dimensions: [ { name: depth, scale: { min: 1, max: 5 }, rubric: r } ] }
`,
);

const file = `
id: study-1
protocol: p
personas: [a, b]
interviewers: [protocol, script]
disclosures:
  - { name: none, toModels: false }
  - { name: full, text: "Everything is published.", toModels: true }
stances:
  - { name: warm, instructions: "Be warm." }
  - { name: probing, instructions: "Probe hard." }
repeats: 3
`;

describe('campaign files', () => {
  it('expand into personas × interviewers × disclosure × stance × repeats, stances only for auditors', () => {
    const c = parseCampaign('c.yaml', file);
    const cells = expandCampaign(c, protocol);
    // auditor: 2 disclosures × 2 stances × 3 repeats × 2 personas; script: 2 disclosures × 3 repeats × 2 personas
    expect(cells).toHaveLength(24 + 12);
    expect(new Set(cells.map((x) => `${x.cell}-${x.repeat}`)).size).toBe(cells.length);
    expect(cells[0]).toMatchObject({ cell: 'aud.d-none.s-warm.a', repeat: 1, interviewer: { kind: 'auditor', personaId: 'aud' }, subjects: ['a'], conditions: { interviewer: 'aud', disclosure: 'none', stance: 'warm' } });
    const script = cells.filter((x) => x.interviewer.kind === 'script');
    expect(script.map((x) => x.conditions.stance)).toEqual(Array(12).fill('none'));
    expect(script.find((x) => x.disclosure?.name === 'full')?.disclosure).toEqual({ name: 'full', text: 'Everything is published.', toModels: true });
  });

  it('name the same cells as the flags did before (resuming an old campaign finds its sessions)', () => {
    const cells = expandCampaign(parseCampaign('c.yaml', 'id: x\nprotocol: p\npersonas: [a, b]\ninterviewers: [aud, script]\nrepeats: 2\n'), protocol);
    expect(cells.map((x) => `${x.cell}-${x.repeat}`)).toEqual(['aud.a-1', 'aud.b-1', 'aud.a-2', 'aud.b-2', 'script.a-1', 'script.b-1', 'script.a-2', 'script.b-2']);
    expect(expandCampaign(parseCampaign('c.yaml', 'id: x\nprotocol: p\npersonas: [a, b]\ngroup: true\n'), protocol).map((x) => [x.cell, x.subjects])).toEqual([['aud.all', ['a', 'b']]]);
  });

  it("use the protocol's own auditor by default, and treat it named twice as one", () => {
    expect(interviewerChoice('protocol', protocol)).toEqual({ kind: 'auditor', personaId: 'aud' });
    expect(interviewerChoice('protocol', { ...protocol, interviewer: { kind: 'human' } })).toEqual({ kind: 'script' });
    expect(expandCampaign(parseCampaign('c.yaml', 'id: x\nprotocol: p\npersonas: [a]\ninterviewers: [protocol, aud]\n'), protocol)).toHaveLength(1);
  });

  it('refuse bad files with the field and the reason', () => {
    expect(() => parseCampaign('c.yaml', file.replace('repeats: 3', 'repeats: 0'))).toThrow(/c\.yaml: invalid campaign[\s\S]*repeats/);
    expect(() => parseCampaign('c.yaml', file.replace('{ name: warm,', '{ name: Warm!,'))).toThrow(/stances\.0\.name/);
  });

  it('add the stance to the auditor’s instructions', () => {
    expect(withStance('Be neutral.', { name: 'warm', instructions: 'Be warm.' })).toBe('Be neutral.\n\nYour stance in this interview (warm): Be warm.');
  });
});

describe('before a campaign starts', () => {
  const personas = [
    persona({ id: 'a', name: 'A', hosts: [{ provider: 'openai', model: 'm', apiKeyEnv: 'KEY_A' }, { provider: 'openai', model: 'm', baseUrl: 'https://x.example/v1', apiKeyEnv: 'KEY_A2' }] }),
    persona({ id: 'b', name: 'B', hosts: [{ provider: 'openai', model: 'm', apiKeyEnv: 'KEY_B' }] }),
    persona({ id: 'aud', name: 'Aud', hosts: [{ provider: 'anthropic', model: 'm', apiKeyEnv: 'KEY_AUD' }] }),
    persona({ id: 'judge', name: 'Judge', hosts: [{ provider: 'anthropic', model: 'm', apiKeyEnv: 'KEY_J' }] }),
  ];
  const c = parseCampaign('c.yaml', 'id: x\nprotocol: p\npersonas: [a, b, zed]\n');

  it('names every persona it cannot reach, in its role, and the variable to set', () => {
    expect(campaignProblems(c, protocol, personas, { KEY_B: 'k', KEY_AUD: 'k' })).toEqual([
      'persona a (interviewed) cannot be reached: no host has its key. Set KEY_A or KEY_A2.',
      'unknown persona "zed" (interviewed); known: a, b, aud, judge',
      'persona judge (judge) cannot be reached: no host has its key. Set KEY_J.',
    ]);
    expect(campaignProblems({ ...c, personas: ['a', 'b'], judges: false }, protocol, personas, { KEY_A2: 'k', KEY_B: 'k', KEY_AUD: 'k' })).toEqual([]);
  });
});
