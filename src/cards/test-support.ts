// Hand-made services, orders, requests and decisions for the card tests (the policy engine and the dosing module
// are written separately; these stand in for their output). Used by tests only.
import type { MedicationRequest } from 'fhir/r4';
import type { HookRequest } from '../hooks/types';
import { CodeMatcher } from '../policy/code-sets';
import type { CrdConfiguration } from '../hooks/crd-configuration';
import type { DoseAssessment } from '../dosing/types';
import type {
  CriterionResult,
  Likelihood,
  LoadedService,
  MissingDocumentation,
  OrderDecision,
  PolicyOutline,
} from '../policy/types';

export const BASE_URL = 'https://cds.example.org';
export const RECEIVED = '2024-06-01';

/** A small policy outline shaped like policy 000's: three pathways, one exclusion, two items. */
export function makeOutline(): PolicyOutline {
  return {
    criteria: [
      {
        id: 'cd19-positive',
        short: 'CD19 on the leukemic blasts',
        clause: '000 A.i, A.xii',
        description: 'CD19-positive B-cell precursor ALL',
        documentation: 'A flow cytometry report showing CD19 on the leukemic blasts.',
      },
      {
        id: 'relapsed-or-refractory',
        short: 'relapsed or refractory disease',
        clause: '000 A.iii.A',
        description: 'Relapsed or refractory disease',
        documentation: 'Documentation of relapsed or refractory disease.',
      },
      {
        id: 'single-agent',
        short: 'blinatumomab as a single agent',
        clause: '000 A.ii',
        description: 'Used as single-agent therapy',
        documentation: 'The treatment plan.',
      },
      {
        id: 'which-remission',
        short: 'first or second complete remission',
        clause: '000 A.iii.B',
        description: 'The remission is a first or second complete remission',
        documentation: 'Which complete remission (first or second) the patient is in.',
      },
      {
        id: 'interfant-regimen',
        short: 'an Interfant regimen',
        clause: '000 A.xii',
        description: 'Used with an Interfant regimen',
        documentation: 'The Interfant protocol.',
      },
    ],
    universal: [],
    continuation: { fromCycle: 2, criteria: [] },
    pathways: [
      {
        id: 'a-i-ii-iii-a',
        title: 'Relapsed or refractory B-ALL, single agent',
        clause: '000 A.i, A.ii, A.iii.A',
        criteria: ['cd19-positive', 'relapsed-or-refractory', 'single-agent'],
        indication: 'relapsed-or-refractory',
        schedule: 'relapsed-refractory',
        maxCycles: 9,
        authorization: { initial: 'per cycle', continuation: 'per cycle' },
      },
      {
        id: 'a-i-ii-iii-b',
        title: 'MRD-positive B-ALL in first or second remission, single agent',
        clause: '000 A.i, A.ii, A.iii.B',
        criteria: ['cd19-positive', 'single-agent', 'which-remission'],
        indication: 'which-remission',
        schedule: 'mrd',
        maxCycles: 4,
        authorization: { initial: 'per cycle', continuation: 'per cycle' },
      },
      {
        id: 'a-xii',
        title: 'Infant ALL with an Interfant regimen',
        clause: '000 A.xii',
        criteria: ['cd19-positive', 'interfant-regimen'],
        indication: 'interfant-regimen',
        schedule: 'consolidation',
        authorization: { initial: 'per cycle', continuation: 'per cycle' },
      },
    ],
    exclusions: [
      {
        id: 'diffuse-large-b-cell-lymphoma',
        clause: '000 D.i',
        reason: 'Diffuse large B-cell lymphoma is excluded (000 D.i)',
      },
    ],
    items: [
      {
        id: 'supporting-documentation',
        short: 'supporting clinical documentation',
        kind: 'submit-with-request',
        clause: '000 A',
        request: 'Chart notes supporting every criterion',
        when: 'always',
      },
      {
        id: 'no-live-vaccine-during-therapy',
        short: 'no live vaccine during therapy',
        kind: 'attestation',
        clause: '000 A',
        request: 'Attest that no live vaccine will be given during therapy',
        when: 'always',
      },
    ],
    authorization: { initial: 'per cycle', continuation: 'per cycle' },
  };
}

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
    labelNamesPayer: true,
    policyId: 'MP-RX-FP-14-23',
    version: '2024-05-09',
    sourceDocument: '000_87c451977d53c8c4.txt',
    drug: new CodeMatcher([{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', codes: ['1597258'] }]),
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
    outline: makeOutline(),
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
    evidenceItems: [{ ref: 'Observation/cd19-1', text: 'CD19 on leukemic blasts: Positive', date: '2024-05-20' }],
  },
  {
    id: 'relapsed-or-refractory',
    short: 'relapsed or refractory disease',
    clause: '000 A.iii.A',
    description: 'Relapsed or refractory disease',
    status: 'met',
    evidence: ['Observation/phase-1', 'Condition/all-1'],
    evidenceItems: [
      { ref: 'Observation/phase-1', text: 'Cancer disease status: Relapse', date: '2024-05-20' },
      { ref: 'Condition/all-1', text: 'Acute lymphoblastic leukemia, in relapse', date: '2024-05-02' },
    ],
  },
  {
    id: 'single-agent',
    short: 'blinatumomab as a single agent',
    clause: '000 A.ii',
    description: 'Used as single-agent therapy',
    status: 'met',
    evidence: [],
    evidenceItems: [],
  },
];

const MISSING: MissingDocumentation[] = [
  {
    criterion: 'relapsed-or-refractory',
    kind: 'unknown-criterion',
    request: 'Documentation of relapsed or refractory disease',
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
    priorCycleItems: [],
    likelihood,
    notCoveredReasons: [],
    pathway: {
      id: 'a-i-ii-iii-a',
      title: 'Relapsed or refractory B-ALL, single agent',
      indication: 'relapsed-or-refractory',
      indicationMet: true,
      criteria: ['cd19-positive', 'relapsed-or-refractory', 'single-agent'],
      scheduleId: 'relapsed-refractory',
      maxCycles: 9,
    },
    criteria: MET.map((c) => ({
      ...c,
      evidence: [...c.evidence],
      evidenceItems: c.evidenceItems.map((i) => ({ ...i })),
    })),
    missingDocumentation: [],
    authorization: { type: 'initial', cycle: 1, length: 'per cycle' },
    coverage: 'Coverage/cov-1',
    dose: noDose(),
  };
  switch (likelihood) {
    case 'likely':
      break;
    case 'needs-documentation':
      base.criteria[1] = { ...MET[1]!, status: 'unknown', evidence: [], evidenceItems: [] };
      base.missingDocumentation = MISSING.map((m) => ({ ...m }));
      break;
    case 'unlikely':
      base.criteria[2] = {
        ...MET[2]!,
        status: 'not-met',
        evidence: ['MedicationRequest/dasatinib-1'],
        evidenceItems: [{ ref: 'MedicationRequest/dasatinib-1', text: 'dasatinib (active order)', date: '2024-04-01' }],
      };
      break;
    case 'not-covered':
      base.notCoveredReasons = ['Diffuse large B-cell lymphoma is excluded (000 D.i)'];
      base.notCoveredBy = ['diffuse-large-b-cell-lymphoma'];
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
