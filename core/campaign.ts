// Campaigns: the file that describes one (personas × interviewers × disclosure depth × auditor
// stance × repeats), its expansion into sessions, and the checks made before any session starts.
// Pure: scripts/interview.ts runs what this decides.
import { z } from 'zod';
import { availability } from '../personas/load.ts';
import type { Persona } from '../personas/schema.ts';
import type { Protocol } from '../protocols/schema.ts';
import { parseYamlFile } from './yaml-file.ts';

const name = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes');

export const CampaignSchema = z.strictObject({
  /** Names the campaign: its sessions, its output folder, its report. */
  id: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'letters, digits, dots, dashes and underscores'),
  protocol: z.string().min(1),
  personas: z.array(z.string().min(1)).min(1),
  /** Persona ids as auditors, `protocol` for the protocol's own interviewer, `script` for the scripted questions alone. */
  interviewers: z.array(z.string().min(1)).min(1).default(['protocol']),
  /** Disclosure depth: each level replaces the protocol's disclosure (text, whether models are given it). */
  disclosures: z.array(z.strictObject({ name, text: z.string().min(1).optional(), toModels: z.boolean().optional() })).min(1).optional(),
  /** Auditor stance: instructions added to the auditor's (sessions without an auditor have none). */
  stances: z.array(z.strictObject({ name, instructions: z.string().min(1) })).min(1).optional(),
  repeats: z.int().min(1).max(1000).default(1),
  mode: z.enum(['sequential', 'blind']).optional(),
  /** All personas in each session, instead of one session per persona. */
  group: z.boolean().default(false),
  /** Judge the answers: the protocol's judges (true), these personas, or not at all (false). */
  judges: z.union([z.boolean(), z.array(z.string().min(1)).min(1)]).default(true),
  /** Worker count the command starts. */
  workers: z.int().min(0).max(64).optional(),
});
export type Campaign = z.infer<typeof CampaignSchema>;
export type DisclosureLevel = NonNullable<Campaign['disclosures']>[number];
export type Stance = NonNullable<Campaign['stances']>[number];

export class CampaignFileError extends Error {
  override name = 'CampaignFileError';
}

export function parseCampaign(file: string, source: string): Campaign {
  return parseYamlFile(file, source, CampaignSchema, 'campaign', (message) => new CampaignFileError(message));
}

export type InterviewerChoice = { kind: 'script' } | { kind: 'auditor'; personaId: string };

/** `script`, `protocol` (the protocol's own interviewer: its auditor, or the script) or an auditor persona id. */
export function interviewerChoice(id: string, protocol: Protocol): InterviewerChoice {
  if (id === 'script') return { kind: 'script' };
  if (id === 'protocol') return protocol.interviewer.kind === 'auditor' ? { kind: 'auditor', personaId: protocol.interviewer.persona } : { kind: 'script' };
  return { kind: 'auditor', personaId: id };
}

export interface Cell {
  /** Names the cell in session ids: interviewer, disclosure, stance, persona (or `all`). */
  cell: string;
  repeat: number;
  interviewer: InterviewerChoice;
  subjects: string[];
  disclosure?: DisclosureLevel;
  stance?: Stance;
  /** The values of the campaign's variables in this cell, recorded in each session's header. */
  conditions: Record<string, string>;
}

/**
 * Every session of the campaign, in a stable order. A stance applies to auditors only: cells without
 * an auditor are not repeated per stance. Interviewers named twice (`protocol` and the auditor's id)
 * are one.
 */
export function expandCampaign(c: Campaign, protocol: Protocol): Cell[] {
  const label = (x: InterviewerChoice) => (x.kind === 'script' ? 'script' : x.personaId);
  const interviewers = [...new Map(c.interviewers.map((id) => interviewerChoice(id, protocol)).map((x) => [label(x), x])).values()];
  const disclosures: (DisclosureLevel | undefined)[] = c.disclosures ?? [undefined];
  const cells: Cell[] = [];
  for (const interviewer of interviewers) {
    const stances: (Stance | undefined)[] = interviewer.kind === 'auditor' && c.stances ? c.stances : [undefined];
    for (const disclosure of disclosures)
      for (const stance of stances)
        for (let repeat = 1; repeat <= c.repeats; repeat++) {
          const groups = c.group ? [{ tag: 'all', subjects: c.personas }] : c.personas.map((p) => ({ tag: p, subjects: [p] }));
          for (const g of groups) {
            const parts = [label(interviewer), ...(disclosure ? [`d-${disclosure.name}`] : []), ...(c.stances ? [`s-${stance?.name ?? 'none'}`] : []), g.tag];
            cells.push({
              cell: parts.join('.'),
              repeat,
              interviewer,
              subjects: g.subjects,
              ...(disclosure ? { disclosure } : {}),
              ...(stance ? { stance } : {}),
              conditions: { interviewer: label(interviewer), ...(c.disclosures ? { disclosure: disclosure!.name } : {}), ...(c.stances ? { stance: stance?.name ?? 'none' } : {}) },
            });
          }
        }
  }
  return cells;
}

/** The judges a campaign uses: none, the protocol's, or its own list. */
export function campaignJudges(c: Pick<Campaign, 'judges'>, protocol: Protocol): string[] {
  if (c.judges === false) return [];
  if (c.judges === true) return protocol.judging?.judges ?? [];
  return c.judges;
}

/** Every persona the campaign will call, and in what role. */
export function personasCalled(c: Campaign, protocol: Protocol): { id: string; role: string }[] {
  const roles = [
    ...c.personas.map((id) => ({ id, role: 'interviewed' })),
    ...expandCampaign({ ...c, repeats: 1 }, protocol).flatMap((x) => (x.interviewer.kind === 'auditor' ? [{ id: x.interviewer.personaId, role: 'auditor' }] : [])),
    ...(protocol.consent?.judge ? [{ id: protocol.consent.judge, role: 'consent judge' }] : []),
    ...(protocol.judging ? campaignJudges(c, protocol).map((id) => ({ id, role: 'judge' })) : []),
  ];
  return [...new Map(roles.map((r) => [`${r.id}\u0000${r.role}`, r])).values()];
}

/**
 * Why the campaign cannot start, one line each: a persona that does not exist, or whose every host
 * lacks its key (naming the variables to set). Empty when it can.
 */
export function campaignProblems(c: Campaign, protocol: Protocol, personas: readonly Persona[], env: Record<string, string | undefined>): string[] {
  return reachProblems(personasCalled(c, protocol), personas, env);
}

/** Why these personas cannot be called (unknown, or no host with its key set), one line each. */
export function reachProblems(wanted: readonly { id: string; role: string }[], personas: readonly Persona[], env: Record<string, string | undefined>): string[] {
  const known = new Map(personas.map((p) => [p.id, p]));
  const problems: string[] = [];
  for (const { id, role } of wanted) {
    const persona = known.get(id);
    if (!persona) {
      problems.push(`unknown persona "${id}" (${role}); known: ${[...known.keys()].join(', ')}`);
      continue;
    }
    const [a] = availability([persona], env);
    if (a && a.usableHosts === 0) problems.push(`persona ${id} (${role}) cannot be reached: no host has its key. Set ${a.missingKeys.join(' or ')}.`);
  }
  return [...new Set(problems)];
}

/** The auditor instructions of a cell: the protocol's (or plain defaults), then its stance. */
export function withStance(instructions: string, stance: Stance | undefined): string {
  return stance ? `${instructions.trim()}\n\nYour stance in this interview (${stance.name}): ${stance.instructions.trim()}` : instructions;
}
