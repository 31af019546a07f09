// Hand-made services, orders, requests and decisions for the card tests (the policy engine and the dosing module
// are written separately; these stand in for their output). Used by tests only.
import type { MedicationRequest } from 'fhir/r4';
import type { HookRequest } from '../hooks/types';
import type { CrdConfiguration } from '../hooks/crd-configuration';
import type { DoseAssessment } from '../dosing/types';
import type { CriterionResult, Likelihood, LoadedService, MissingDocumentation, OrderDecision } from '../policy/types';

export const BASE_URL = 'https://cds.example.org';
export const RECEIVED = '2024-06-01';

export function makeService(overrides: Partial<LoadedService> = {}): LoadedService {
  return {
    id: 'blinatumomab-mmm',
    dir: '/tmp/cds-services/blinatumomab-mmm',
    definition: {
      id: 'blinatumomab-mmm',
      hook: 'order-sign',
      title: 'Blinatumomab coverage (MMM Healthcare)',
      description: 'Checks blinatumomab orders against MMM Healthcare policy MP-RX-FP-14-23.',
      prefetch: { coverage: 'Coverage?patient={{context.patientId}}&status=active' },
      usageRequirements: 'None',
    },
    label: 'MMM Healthcare',
    policyId: 'MP-RX-FP-14-23',
    version: '2024-05-09',
    sourceDocument: '000_87c451977d53c8c4.txt',
    drugCodes: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1597258' }],
    payers: [{ system: 'http://example.org/fhir/sid/payer-id', value: 'mmm-healthcare' }],
    billingCode: {
      system: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
      code: 'J9039',
      display: 'Injection, blinatumomab, 1 microgram',
    },
    documentation: [
      {
        id: 'which-remission',
        short: 'first or second complete remission',
        text: 'Which complete remission (first or second) the patient is in',
        kind: 'unknown-criterion',
      },
      {
        id: 'no-live-vaccine-during-therapy',
        short: 'no live vaccine during therapy',
        text: 'Attest that no live vaccine will be given during therapy',
        kind: 'attestation',
      },
      {
        id: 'supporting-documentation',
        short: 'supporting documentation',
        text: 'Chart notes supporting every criterion',
        kind: 'submit-with-request',
      },
    ],
    dosing: {
      weightThresholdKg: 45,
      weightMaxAgeDays: { adult: 30, child: 7 },
      bsaMaxAgeDays: 30,
      bsaPlausibility: { maxRelativeDifference: 0.2, minM2: 0.1, maxM2: 3 },
      doseTolerance: 0.1,
      limits: { vialsPerCycle: 28, vialStrengthMcg: 35, unitsPerCycle: 980 },
      schedules: {},
      unitSynonyms: {},
    },
    policy: {},
    ...overrides,
  };
}

export function makeOrder(id: string | undefined, extra: Partial<MedicationRequest> = {}): MedicationRequest {
  const order: MedicationRequest = {
    resourceType: 'MedicationRequest',
    status: 'draft',
    intent: 'order',
    medicationCodeableConcept: {
      coding: [
        {
          system: 'http://www.nlm.nih.gov/research/umls/rxnorm',
          code: '1597262',
          display: 'blinatumomab 0.035 MG Injection',
        },
      ],
      text: 'Blincyto 35 mcg injection',
    },
    subject: { reference: 'Patient/pat-1' },
    authoredOn: '2024-06-01',
    dosageInstruction: [
      {
        timing: {
          repeat: {
            boundsPeriod: { start: '2024-06-03', end: '2024-06-30' },
            frequency: 1,
            period: 1,
            periodUnit: 'd',
          },
        },
        doseAndRate: [
          { doseQuantity: { value: 28, unit: 'mcg/day', system: 'http://unitsofmeasure.org', code: 'ug/d' } },
        ],
      },
    ],
    dispenseRequest: {
      quantity: { value: 28, unit: 'vial', system: 'http://unitsofmeasure.org', code: '{vial}' },
      expectedSupplyDuration: { value: 42, unit: 'd', system: 'http://unitsofmeasure.org', code: 'd' },
    },
    ...extra,
  };
  if (id !== undefined) {
    order.id = id;
  }
  return order;
}

export function makeRequest(orders: MedicationRequest[], patientId = 'pat-1'): HookRequest {
  return {
    hook: 'order-sign',
    hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
    context: {
      patientId,
      userId: 'Practitioner/prac-1',
      draftOrders: { resourceType: 'Bundle', type: 'collection', entry: orders.map((resource) => ({ resource })) },
    },
  };
}

export function config(overrides: Partial<CrdConfiguration> = {}): CrdConfiguration {
  return { coverageInfo: true, limits: true, maxCards: 10, ...overrides };
}

/** Deterministic identifiers: uuid-1, uuid-2, ... */
export function sequentialUuid(prefix = 'uuid'): () => string {
  let n = 0;
  return () => `${prefix}-${++n}`;
}

export function noDose(overrides: Partial<DoseAssessment> = {}): DoseAssessment {
  return { findings: [], prompts: [], arithmetic: [], ...overrides };
}

const MET: CriterionResult[] = [
  {
    id: 'cd19-positive',
    short: 'CD19 on the leukemic blasts',
    clause: '000 A.i',
    description: 'CD19-positive B-cell precursor ALL',
    status: 'met',
    evidence: ['Observation/cd19-1'],
  },
  {
    id: 'relapsed-or-refractory',
    short: 'relapsed or refractory disease',
    clause: '000 A.iii.A',
    description: 'Relapsed or refractory disease',
    status: 'met',
    evidence: ['Observation/phase-1', 'Condition/all-1'],
  },
  {
    id: 'single-agent',
    short: 'blinatumomab as a single agent',
    clause: '000 A.ii',
    description: 'Used as single-agent therapy',
    status: 'met',
    evidence: [],
  },
];

const MISSING: MissingDocumentation[] = [
  {
    criterion: 'which-remission',
    kind: 'unknown-criterion',
    request: 'Document which complete remission (first or second) the patient is in',
  },
  {
    criterion: 'supporting-documentation',
    kind: 'submit-with-request',
    request: 'Submit chart notes supporting every criterion',
  },
];

/** A decision of the given likelihood with plausible contents; anything can be overridden. */
export function makeDecision(likelihood: Likelihood, overrides: Partial<OrderDecision> = {}): OrderDecision {
  const order = overrides.order ?? makeOrder('mr-1');
  const base: OrderDecision = {
    orderIndex: 0,
    order,
    orderRef: order.id ? `MedicationRequest/${order.id}` : undefined,
    dates: { plannedStart: '2024-06-03', cycle1Start: '2024-06-03', received: RECEIVED },
    cycle: 1,
    priorCycles: [],
    likelihood,
    notCoveredReasons: [],
    pathway: {
      id: 'a-i-ii-iii-a',
      title: 'Relapsed or refractory B-ALL, single agent',
      indicationMet: true,
      scheduleId: 'relapsed-refractory',
      maxCycles: 9,
    },
    criteria: MET.map((c) => ({ ...c, evidence: [...c.evidence] })),
    missingDocumentation: [],
    authorization: { type: 'initial', cycle: 1, length: 'per cycle' },
    coverage: 'Coverage/cov-1',
    dose: noDose(),
  };
  switch (likelihood) {
    case 'likely':
      break;
    case 'needs-documentation':
      base.criteria[1] = { ...MET[1]!, status: 'unknown', evidence: [] };
      base.missingDocumentation = MISSING.map((m) => ({ ...m }));
      break;
    case 'unlikely':
      base.criteria[2] = { ...MET[2]!, status: 'not-met', evidence: ['MedicationRequest/dasatinib-1'] };
      break;
    case 'not-covered':
      base.notCoveredReasons = ['Diffuse large B-cell lymphoma is excluded (000 D.i)'];
      delete base.pathway;
      break;
  }
  const decision = { ...base, ...overrides };
  if (overrides.order && !('orderRef' in overrides)) {
    decision.orderRef = overrides.order.id ? `MedicationRequest/${overrides.order.id}` : undefined;
  }
  if (decision.orderRef === undefined) {
    delete decision.orderRef;
  }
  return decision;
}
