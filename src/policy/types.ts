// Policy and decision types. The policy is data (cds-services/<id>/policy.yaml), loaded, checked and compiled at
// start-up by policy/load.ts; evaluation (policy/evaluate.ts) is pure and synchronous.
import type { MedicationRequest } from 'fhir/r4';
import type { ServiceDefinition } from '../hooks/types';
import type { DoseAssessment, DosingRules } from '../dosing/types';

export type CriterionStatus = 'met' | 'not-met' | 'unknown';
export type Likelihood = 'likely' | 'needs-documentation' | 'unlikely' | 'not-covered';

/** A code the service governs (contract section 2): the drug's RxNorm, NDC (every written form) and HCPCS codes. */
export interface DrugCode {
  system: string;
  code: string;
}

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
  policyId?: string;
  version: string;
  effectiveDate?: string;
  /** The source document (file name under shared/seeds, and its title). */
  sourceDocument: string;
  /** Codes that make an order governed. */
  drugCodes: DrugCode[];
  /** The payers this policy covers: the routed services choose the policy by them (`payers:` in policy.yaml). */
  payers: PayerIdentifier[];
  /** HCPCS billing code for coverage-information `billingCode`. */
  billingCode: { system: string; code: string; display?: string };
  /** Documentation requests, one Questionnaire item each (contract section 6). */
  documentation: Array<{ id: string; short: string; text: string; kind: MissingDocumentation['kind'] }>;
  dosing: DosingRules;
  /** The compiled policy, opaque outside src/policy. */
  policy: unknown;
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
  likelihood: Likelihood;
  /** Why the order is not covered (exclusion, minimum age, cycle limit), in plain words; empty otherwise. */
  notCoveredReasons: string[];
  /**
   * What makes the order not covered, one id per entry of `notCoveredReasons`: an exclusion's id, the id of a
   * criterion whose failure excludes (the minimum age), or `cycle-limit`. Absent when the order is not excluded.
   */
  notCoveredBy?: string[];
  /** The best pathway (contract section 4); absent when an exclusion decides. */
  pathway?: { id: string; title: string; indicationMet: boolean; scheduleId: string; maxCycles?: number };
  /** Every criterion evaluated, unique by id, in declaration order. */
  criteria: CriterionResult[];
  missingDocumentation: MissingDocumentation[];
  authorization: { type: 'initial' | 'continuation'; cycle: number; length: string };
  /** Reference of the first active Coverage in the data, e.g. `Coverage/cov-1`; absent when none. */
  coverage?: string;
  dose: DoseAssessment;
}
