// The compiled form of a policy file (`LoadedService.policy`), internal to src/policy. Built once by load.ts, frozen,
// read by evaluate.ts.
import type { CodeMatcher } from './code-sets';
import type { CompiledExpression } from './fhirpath';
import type { MissingDocumentation } from './types';

/** Variables every expression may read besides the policy's collections and facts (cds-services/README.md). */
export const BUILTIN_VARIABLES = [
  'order',
  'patient',
  'plannedStart',
  'cycle1Start',
  'receivedDate',
  'cycle',
  'continuing',
  'priorCycles',
  'draftOrders',
] as const;

export type BuiltinVariable = (typeof BUILTIN_VARIABLES)[number];

/**
 * What can differ between the governed orders of one call (contract section 4): the order itself (the focus of
 * every expression, and `%order`), its planned start and its start of cycle 1. Everything else (the data, the
 * patient, the received date, the cycle number and prior cycles every order of a call shares) is the same for all.
 */
export const ORDER_DEPENDENCIES = ['order', 'plannedStart', 'cycle1Start'] as const;

export type OrderDependency = (typeof ORDER_DEPENDENCIES)[number];

export interface CompiledCollection {
  name: string;
  resourceType: string;
  /** Observations (or any resource with `code`) whose code is in this set; absent = every resource of the type. */
  codes?: CodeMatcher;
  codeSetName?: string;
  /** `regimen`: this call's draft MedicationRequests plus the active ones on file (contract section 4). */
  source: 'data' | 'regimen';
}

export interface CompiledFact {
  name: string;
  expression: CompiledExpression;
  /**
   * What its value depends on among ORDER_DEPENDENCIES, derived at load from the expression and the facts it reads:
   * empty = computed once per call; otherwise once per distinct value of these (per order when `order` is listed).
   */
  dependsOn: readonly OrderDependency[];
}

export interface CompiledCriterion {
  id: string;
  /** At most 60 characters: what card summaries quote (contract section 6). */
  short: string;
  clause: string;
  description: string;
  documentation: string;
  alwaysUnknown: boolean;
  evidence?: CompiledExpression;
  status?: CompiledExpression;
  /**
   * Narrower requests, when only part of what `documentation` asks for is missing (contract section 6: a request
   * asks only for what is unknown): the first whose `when` (reading `%evidence`) is true replaces `documentation`.
   */
  documentationWhen: Array<{ when: CompiledExpression; documentation: string }>;
  /** What the evidence depends on among ORDER_DEPENDENCIES (see CompiledFact.dependsOn). */
  evidenceDependsOn: readonly OrderDependency[];
  /** What the whole result (evidence, status, documentation) depends on. */
  dependsOn: readonly OrderDependency[];
  /** When set, this criterion not met makes the order not covered (e.g. under the minimum age), with this reason. */
  notCoveredWhenNotMet?: string;
}

export interface CompiledItem {
  id: string;
  /** At most 60 characters: what card summaries quote (contract section 6). */
  short: string;
  kind: Exclude<MissingDocumentation['kind'], 'unknown-criterion'>;
  clause: string;
  request: string;
  when: 'always' | 'continuation';
}

export interface CompiledPathway {
  id: string;
  title: string;
  clause: string;
  /** The pathway's own criteria (universal and continuation criteria are added when evaluating). */
  criteria: string[];
  indication: string;
  schedule: string;
  maxCycles?: number;
  authorization: { initial: string; continuation: string };
}

export interface CompiledExclusion {
  id: string;
  clause: string;
  reason: string;
  when: CompiledExpression;
  /** What `when` depends on among ORDER_DEPENDENCIES. */
  dependsOn: readonly OrderDependency[];
}

export interface CompiledPolicy {
  file: string;
  casesFile: string;
  caseCount: number;
  codeSets: ReadonlyMap<string, CodeMatcher>;
  drug: CodeMatcher;
  collections: CompiledCollection[];
  facts: CompiledFact[];
  criteria: CompiledCriterion[];
  criterionById: ReadonlyMap<string, CompiledCriterion>;
  items: CompiledItem[];
  universal: string[];
  continuation?: { fromCycle: number; criteria: string[] };
  pathways: CompiledPathway[];
  exclusions: CompiledExclusion[];
  authorization: { initial: string; continuation: string };
  doseObservations: { weights: CodeMatcher; heights: CodeMatcher; bsas: CodeMatcher };
}
