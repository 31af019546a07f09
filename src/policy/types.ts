// Policy and decision types. The policy is data (cds-services/<id>/policy.yaml), loaded, checked and compiled at
// start-up by policy/load.ts; evaluation (policy/evaluate.ts) is pure and synchronous.
import type { MedicationRequest } from 'fhir/r4';
import type { ServiceDefinition } from '../hooks/types';
import type { DoseAssessment, DosingRules } from '../dosing/types';
import type { CodeMatcher } from './code-sets';

export type CriterionStatus = 'met' | 'not-met' | 'unknown';
export type Likelihood = 'likely' | 'needs-documentation' | 'unlikely' | 'not-covered';

/** A payer's identifier as a policy declares it (contract section 1; matched on `Coverage.payor`). */
export interface PayerIdentifier {
  system: string;
  value: string;
  /** The payer's name, for people (discovery's usage requirements, the README). */
  name?: string;
}

/** Everything about one service that is fixed at start-up. */
export interface LoadedService {
  id: string;
  /** The folder it was loaded from. */
  dir: string;
  /** Exactly what discovery shows for this service. */
  definition: ServiceDefinition;
  /** `source.label` of every card (contract section 1). */
  label: string;
  /**
   * Whether `label` names the payer (policy.yaml `policy.labelNamesPayer`, required): card text names the payer by
   * its label when it does, and says "the health plan" when it does not (contract section 6).
   */
  labelNamesPayer: boolean;
  policyId?: string;
  version: string;
  effectiveDate?: string;
  /** The source document (file name under shared/seeds, and its title). */
  sourceDocument: string;
  /**
   * The drug code set (`drug.codes`): an order is governed when its medication carries one of its codes, as
   * evaluation recognises prior cycles (src/policy/drug.ts; contract section 2): the drug's RxNorm, NDC (every
   * written form) and HCPCS codes.
   */
  drug: CodeMatcher;
  /** The payers this policy covers: the routed services choose the policy by them (`payers:` in policy.yaml). */
  payers: PayerIdentifier[];
  /** HCPCS billing code for coverage-information `billingCode`. */
  billingCode: { system: string; code: string; display?: string };
  /** Documentation requests, one Questionnaire item each (contract section 6). */
  documentation: Array<{ id: string; short: string; text: string; kind: MissingDocumentation['kind'] }>;
  dosing: DosingRules;
  /** What the policy declares, in plain data (the policy page and the cards read it; contract section 6). */
  outline: PolicyOutline;
  /** The compiled policy, opaque outside src/policy. */
  policy: unknown;
}

/**
 * A policy's declarations as plain data, in declaration order: its criteria, pathways, exclusions, documentation
 * requests and lengths of authorization (the expressions stay inside the compiled policy).
 */
export interface PolicyOutline {
  criteria: Array<{
    id: string;
    short: string;
    clause: string;
    description: string;
    documentation: string;
    /** Set when this criterion not met makes the order not covered (a minimum age): the reason in words. */
    notCoveredWhenNotMet?: string;
  }>;
  /** Criterion ids that are part of every pathway. */
  universal: string[];
  /** From `fromCycle` on, these criteria are part of every pathway. */
  continuation?: { fromCycle: number; criteria: string[] };
  pathways: Array<{
    id: string;
    title: string;
    clause: string;
    /** The pathway's own criteria (without the universal and continuation ones). */
    criteria: string[];
    /** Its indication criterion (one of `criteria`). */
    indication: string;
    /** Its dosing schedule (a key of `LoadedService.dosing.schedules`). */
    schedule: string;
    maxCycles?: number;
    authorization: { initial: string; continuation: string };
  }>;
  exclusions: Array<{ id: string; clause: string; reason: string }>;
  /** Attestation and submit-with-request items. */
  items: Array<{
    id: string;
    short: string;
    kind: 'attestation' | 'submit-with-request';
    clause: string;
    request: string;
    when: 'always' | 'continuation';
  }>;
  authorization: { initial: string; continuation: string };
}

/** One resource a decision rests on, in words (contract section 6: evidence in words, never bare ids). */
export interface EvidenceItem {
  /** `Type/id`, only when the resource has a valid FHIR id. */
  ref?: string;
  /**
   * The fact as the resource states it: a result's code and value, a condition's code, an order's medication, a
   * care plan's title. Text from patient data, unescaped: whoever puts it in markdown escapes it.
   */
  text: string;
  /** The date the fact is dated by (YYYY-MM-DD), when it has one. */
  date?: string;
}

export interface CriterionResult {
  id: string;
  /** The criterion's declared short name (at most 60 characters), for card summaries. */
  short: string;
  /** e.g. `000 A.iii.B`. */
  clause: string;
  description: string;
  status: CriterionStatus;
  /** References of the resources the status rests on, e.g. `Observation/mrd-1`. */
  evidence: string[];
  /** The same resources in words, one item each, in the same order (items without a valid id included). */
  evidenceItems: EvidenceItem[];
}

export interface MissingDocumentation {
  criterion: string;
  kind: 'unknown-criterion' | 'attestation' | 'submit-with-request';
  /** What to submit, in plain words. */
  request: string;
}

export interface OrderDecision {
  /** Index in `context.draftOrders.entry`. */
  orderIndex: number;
  /** The order as received (a pristine copy). */
  order: MedicationRequest;
  /** `MedicationRequest/<id>`; absent when the draft order has no id (then: cards only, no actions). */
  orderRef?: string;
  /** The three dates, kept explicit (contract section 4). */
  dates: { plannedStart: string; cycle1Start: string; received: string };
  cycle: number;
  /** References of the prior blinatumomab cycles counted. */
  priorCycles: string[];
  /** The prior cycles counted, in words (each order's medication and its planned start). */
  priorCycleItems: EvidenceItem[];
  likelihood: Likelihood;
  /** Why the order is not covered (exclusion, minimum age, cycle limit), in plain words; empty otherwise. */
  notCoveredReasons: string[];
  /**
   * What makes the order not covered, one id per entry of `notCoveredReasons`: an exclusion's id, the id of a
   * criterion whose failure excludes (the minimum age), or `cycle-limit`. Absent when the order is not excluded.
   */
  notCoveredBy?: string[];
  /** The best pathway (contract section 4); absent when an exclusion decides. */
  pathway?: {
    id: string;
    title: string;
    /** The id of its indication criterion. */
    indication: string;
    indicationMet: boolean;
    /** Every criterion of the pathway as evaluated for this order (universal and continuation ones included). */
    criteria: string[];
    scheduleId: string;
    maxCycles?: number;
  };
  /** Every criterion evaluated, unique by id, in declaration order. */
  criteria: CriterionResult[];
  missingDocumentation: MissingDocumentation[];
  authorization: { type: 'initial' | 'continuation'; cycle: number; length: string };
  /** Reference of the first active Coverage in the data, e.g. `Coverage/cov-1`; absent when none. */
  coverage?: string;
  dose: DoseAssessment;
}
