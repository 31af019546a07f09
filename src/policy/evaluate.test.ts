import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import * as assess from '../dosing/assess';
import type { DoseInput } from '../dosing/types';
import { CallAbandoned, HttpError } from '../errors';
import { buildCaseInput, readCaseFile, type CaseFile, type PolicyCase } from './cases';
import type { CompiledPolicy } from './compiled';
import { evaluateOrders, type Diagnostics } from './evaluate';
import type { OrderDecision } from './types';

import { evaluationCounts } from './fhirpath';
import { loadService, standalonePolicy } from './load';
import type { LoadedService } from './types';

/** The decisions of evaluateOrders. */
function decide(...args: Parameters<typeof evaluateOrders>): OrderDecision[] {
  return evaluateOrders(...args).decisions;
}

/** The diagnostics evaluateOrders returns for `args`, and its decisions. */
function diagnose(...args: Parameters<typeof evaluateOrders>): {
  decisions: OrderDecision[];
  diagnostics: Diagnostics;
} {
  return evaluateOrders(...args);
}

const servicesDir = path.resolve(__dirname, '..', '..', 'cds-services');
const mmmDir = path.join(servicesDir, 'blinatumomab-mmm');
const mmm = loadService(mmmDir);
const mmmCases = readCaseFile(path.join(mmmDir, 'cases.yaml'));
const singleDir = path.join(servicesDir, 'blinatumomab-single-agent');
const single = loadService(singleDir);
const singleCases = readCaseFile(path.join(singleDir, 'cases.yaml'));

function input(
  service: LoadedService,
  cases: CaseFile,
  c: Omit<PolicyCase, 'expect' | 'name'> & { name?: string }
): ReturnType<typeof buildCaseInput> {
  return buildCaseInput(service, cases, { name: 'test', expect: {}, ...c });
}

const relapsed = {
  resources: ['dx-relapse', 'cd19-pos', 'status-relapse', 'weight', 'height'],
  orders: ['blin-step-up'],
};

const tmp: string[] = [];
afterAll(() => tmp.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

// The policy file is edited as a free YAML tree here, key by key.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type PolicyTree = Record<string, any>;

/** The MMM policy with changes, loaded from a temporary folder. */
function mmmVariant(change: (policy: PolicyTree) => void): LoadedService {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evaluate-'));
  tmp.push(dir);
  const folder = path.join(dir, 'blinatumomab-mmm');
  fs.mkdirSync(folder);
  const policy = standalonePolicy(mmmDir) as PolicyTree;
  change(policy);
  fs.writeFileSync(path.join(folder, 'policy.yaml'), stringify(policy, { lineWidth: 0 }));
  fs.copyFileSync(path.join(mmmDir, 'cases.yaml'), path.join(folder, 'cases.yaml'));
  return loadService(folder);
}

describe('errors inside expressions (contract section 4)', () => {
  test('a criterion whose expression throws is unknown, and the error is logged with its id', () => {
    const service = mmmVariant((p) => {
      const c = (p.criteria as Array<Record<string, string>>).find((x) => x.id === 'cd19-positive')!;
      c.status = "%evidence.single().value.coded('cd19Positive')";
    });
    const call = input(service, mmmCases, {
      resources: [
        'dx-relapse',
        'status-relapse',
        'cd19-pos',
        { use: 'cd19-neg', effectiveDateTime: '2024-05-20T15:00:00Z' },
      ],
      orders: ['blin-step-up'],
    });
    const {
      decisions: [decision],
      diagnostics,
    } = diagnose(service, call);
    expect(decision?.criteria.find((c) => c.id === 'cd19-positive')).toMatchObject({ status: 'unknown', evidence: [] });
    expect(decision?.criteria.find((c) => c.id === 'relapsed-or-refractory')?.status).toBe('met');
    expect(decision?.likelihood).toBe('needs-documentation');
    expect(diagnostics.errors).toEqual([{ where: 'criterion cd19-positive', message: expect.any(String) as string }]);
    // Returned, not pushed: the call's context is not written.
    expect(call.ctx.errors).toEqual([]);
  });

  test('a fact that throws makes only the criteria reading it unknown', () => {
    const service = mmmVariant((p) => {
      p.facts.phaseEvidence = `(${String(p.facts.phaseEvidence)}).single()`;
    });
    const call = input(service, mmmCases, {
      resources: ['dx-relapse', 'cd19-pos', 'status-relapse', 'status-remission'],
      orders: ['blin-step-up'],
    });
    const {
      decisions: [decision],
      diagnostics,
    } = diagnose(service, call);
    const status = (id: string): string | undefined => decision?.criteria.find((c) => c.id === id)?.status;
    expect(status('relapsed-or-refractory')).toBe('unknown');
    expect(status('in-complete-remission')).toBe('unknown');
    expect(status('cd19-positive')).toBe('met');
    expect(diagnostics.errors.map((e) => e.where).sort()).toEqual([
      'criterion in-complete-remission',
      'criterion relapsed-or-refractory',
    ]);
    expect(diagnostics.errors[0]?.message).toContain('%phaseEvidence');
  });

  test('a status expression giving something other than one boolean is an error', () => {
    const service = mmmVariant((p) => {
      (p.criteria as Array<Record<string, string>>).find((x) => x.id === 'single-agent')!.status = '%evidence.count()';
    });
    const call = input(service, mmmCases, relapsed);
    const {
      decisions: [decision],
      diagnostics,
    } = diagnose(service, call);
    expect(decision?.criteria.find((c) => c.id === 'single-agent')?.status).toBe('unknown');
    expect(diagnostics.errors[0]).toEqual({
      where: 'criterion single-agent',
      message: 'the status expression must give one boolean or nothing',
    });
  });

  test('an exclusion that throws does not exclude, and is logged', () => {
    const service = mmmVariant((p) => {
      p.exclusions[0].when = '%lymphoidMalignancies.single().exists()';
    });
    const call = input(service, mmmCases, { resources: ['dx-cll', 'dx-dlbcl', 'cd19-pos'], orders: ['blin-step-up'] });
    const {
      decisions: [decision],
      diagnostics,
    } = diagnose(service, call);
    expect(decision?.notCoveredBy).toEqual(['another-indication']);
    expect(diagnostics.errors.map((e) => e.where)).toEqual(['exclusion diffuse-large-b-cell-lymphoma']);
  });
});

describe('purity', () => {
  test('neither the request nor the data is modified', () => {
    const call = input(mmm, mmmCases, {
      ...relapsed,
      resources: [...relapsed.resources, 'dasatinib', 'crs', 'prior-cycle'],
    });
    const request = JSON.stringify(call.request);
    const data = JSON.stringify(call.data);
    const orders = JSON.stringify(call.orders);
    const decisions = decide(mmm, call);
    expect(JSON.stringify(call.request)).toBe(request);
    expect(JSON.stringify(call.data)).toBe(data);
    expect(JSON.stringify(call.orders)).toBe(orders);
    expect(decisions[0]?.order).toEqual(call.orders[0]?.order);
    expect(decisions[0]?.order).not.toBe(call.orders[0]?.order);
  });

  test('no clock: the same call decides the same in another year and another time zone', () => {
    const decideNow = (): unknown => {
      const call = input(single, singleCases, {
        resources: [
          { use: 'infant', birthDate: '2024-05-10' },
          { use: 'dx-relapse', onsetDateTime: '2024-05-30' },
          'cd19-pos',
          'status-relapse',
          'mmr-vaccine',
        ],
        orders: ['blin-step-up'],
      });
      return decide(single, call).map((d) => ({ ...d, dose: undefined }));
    };
    const reference = decideNow();
    const tz = process.env.TZ;
    jest.useFakeTimers({ now: new Date('2037-12-31T23:59:59Z') });
    try {
      for (const zone of ['Pacific/Kiritimati', 'America/Los_Angeles', 'UTC']) {
        process.env.TZ = zone;
        expect(decideNow()).toEqual(reference);
      }
    } finally {
      jest.useRealTimers();
      process.env.TZ = tz;
    }
  });

  test('no governed order, no decision', () => {
    const call = input(mmm, mmmCases, relapsed);
    expect(decide(mmm, { ...call, orders: [] })).toEqual([]);
  });
});

describe('decisions', () => {
  test('dates, order reference, coverage and prior cycles are explicit', () => {
    const call = input(mmm, mmmCases, {
      resources: ['dx-all', 'cd19-pos-early', 'status-relapse-early', 'prior-cycle'],
      orders: ['blin-28'],
    });
    const [d] = decide(mmm, call);
    expect(d).toMatchObject({
      orderIndex: 0,
      orderRef: 'MedicationRequest/blin-1',
      dates: { plannedStart: '2024-06-10', cycle1Start: '2024-04-29', received: '2024-06-03' },
      cycle: 2,
      priorCycles: ['MedicationRequest/blin-prior-1'],
      coverage: 'Coverage/cov-1',
      pathway: {
        id: 'single-agent-relapsed-refractory',
        indicationMet: true,
        scheduleId: 'relapsed-refractory',
        maxCycles: 9,
      },
      authorization: { type: 'continuation', cycle: 2, length: 'per cycle' },
      notCoveredReasons: [],
    });
    expect(d?.notCoveredBy).toBeUndefined();
  });

  test('a co-ordered drug written as a Medication reference is recognised with the Medication governance read', () => {
    // The draft TKI names Medication/med-tki, which the prefetch lacks (drafts are not on file): governance read it.
    const call = input(mmm, mmmCases, {
      resources: relapsed.resources,
      orders: [
        'blin-step-up',
        {
          use: 'dasatinib',
          id: 'mr-tki-draft',
          status: 'draft',
          medicationCodeableConcept: null,
          medicationReference: { reference: 'Medication/med-tki' },
        },
      ],
    });
    const tki = {
      resourceType: 'Medication',
      id: 'med-tki',
      code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '475342' }] },
    };
    const status = (d: OrderDecision | undefined, id: string): string | undefined =>
      d?.criteria.find((c) => c.id === id)?.status;

    const [without] = decide(mmm, call);
    expect(status(without, 'with-tki')).toBe('not-met');

    const [withRead] = decide(mmm, { ...call, medications: { 'Medication/med-tki': tki } });
    expect(status(withRead, 'with-tki')).toBe('met');
    expect(status(withRead, 'single-agent')).toBe('not-met');
    expect(withRead?.criteria.find((c) => c.id === 'with-tki')?.evidence).toEqual(['MedicationRequest/mr-tki-draft']);
    expect(withRead?.pathway?.id).toBe('tki-relapsed-refractory');

    // The data's own Medication wins over a read one with the same id; junk in the map is ignored.
    const [dataWins] = decide(mmm, {
      ...call,
      data: {
        ...call.data,
        medicationRequests: { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: tki }] },
      },
      medications: {
        'Medication/med-tki': { ...tki, code: { coding: [{ system: 'x', code: 'y' }] } },
        junk: 42,
        'Medication/x': null,
      },
    });
    expect(status(dataWins, 'with-tki')).toBe('met');
  });

  test('a governed order without an id gets a decision without a reference', () => {
    const call = input(mmm, mmmCases, { resources: relapsed.resources, orders: [{ use: 'blin-step-up', id: null }] });
    const [d] = decide(mmm, call);
    expect(d?.orderRef).toBeUndefined();
    expect(d?.likelihood).toBe('likely');
  });

  test('every criterion appears once, in declaration order, with its clause and description', () => {
    const [d] = decide(mmm, input(mmm, mmmCases, relapsed));
    const ids = d!.criteria.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[0]).toBe('covered-diagnosis');
    expect(d!.criteria.find((c) => c.id === 'mrd-at-least-0-1-percent')).toMatchObject({
      clause: '000 A.iii.B',
      description: 'Minimal residual disease of at least 0.1 % (any method)',
    });
  });

  test('not-covered reasons are plain words, one per cause', () => {
    const [d] = decide(mmm, input(mmm, mmmCases, { resources: ['dx-dlbcl', 'cd19-pos'], orders: ['blin-step-up'] }));
    expect(d?.likelihood).toBe('not-covered');
    expect(d?.pathway).toBeUndefined();
    expect(d?.notCoveredReasons).toEqual([
      'Diffuse large B-cell lymphoma is not covered (000 D.i), and no B-cell precursor ALL diagnosis is on file.',
    ]);
  });

  test('over the cycle limit, the reason names the cycle, the limit and the pathway', () => {
    const cycles = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9'].map((id) => ({ use: 'prior-cycle', id }));
    const [d] = decide(
      mmm,
      input(mmm, mmmCases, {
        resources: [
          { use: 'dx-all', onsetDateTime: '2020-01-01' },
          { use: 'cd19-pos', effectiveDateTime: '2020-01-02' },
          { use: 'status-relapse', effectiveDateTime: '2020-01-03' },
          ...cycles,
        ],
        orders: ['blin-continued'],
      })
    );
    expect(d?.notCoveredBy).toEqual(['cycle-limit']);
    expect(d?.notCoveredReasons[0]).toBe(
      'This order would be cycle 10, beyond the 9 cycles the policy allows for 000 A.i+ii+iii.A, single agent for relapsed or refractory disease.'
    );
  });
});

describe('the dose check gets the best pathway and the patient measures', () => {
  afterEach(() => jest.restoreAllMocks());

  test('schedule, indication, cycle, planned start and the weight, height and BSA Observations', () => {
    const spy = jest.spyOn(assess, 'assessDose');
    decide(
      mmm,
      input(mmm, mmmCases, {
        resources: [...relapsed.resources, { use: 'weight', id: 'weight-old', status: 'entered-in-error' }, 'mrd-flow'],
        orders: relapsed.orders,
      })
    );
    const arg = spy.mock.calls[0]?.[0] as DoseInput;
    expect(arg.schedule?.id).toBe('relapsed-refractory');
    expect(arg.indicationMet).toBe(true);
    expect(arg.cycle).toBe(1);
    expect(arg.plannedStart).toBe('2024-06-10');
    expect(arg.rules).toBe(mmm.dosing);
    expect(arg.patient.birthDate).toBe('1980-03-15');
    expect(arg.patient.weights.map((o) => o.id)).toEqual(['weight']);
    expect(arg.patient.heights.map((o) => o.id)).toEqual(['height']);
    expect(arg.patient.bsas).toEqual([]);
  });

  test('an unmet indication is passed as such; an exclusion passes no schedule', () => {
    const spy = jest.spyOn(assess, 'assessDose');
    decide(mmm, input(mmm, mmmCases, { resources: ['dx-all', 'cd19-pos'], orders: ['blin-step-up'] }));
    expect((spy.mock.calls[0]?.[0] as DoseInput).indicationMet).toBe(false);
    decide(mmm, input(mmm, mmmCases, { resources: ['dx-dlbcl', 'cd19-pos'], orders: ['blin-step-up'] }));
    const excluded = spy.mock.calls[1]?.[0] as DoseInput;
    expect(excluded.schedule).toBeUndefined();
    expect(excluded.indicationMet).toBe(false);
  });

  test('a dose check that throws (a bug of src/dosing) leaves an unchecked assessment and a returned error', () => {
    jest.spyOn(assess, 'assessDose').mockImplementation(() => {
      throw new Error('boom');
    });
    const call = input(mmm, mmmCases, relapsed);
    const {
      decisions: [d],
      diagnostics,
    } = diagnose(mmm, call);
    expect(d?.dose).toEqual({ findings: [], prompts: [], arithmetic: [], unchecked: true });
    expect(d?.likelihood).toBe('likely');
    expect(diagnostics.errors).toEqual([{ where: 'dose', message: 'boom' }]);
  });
});

describe('bad input never crashes the evaluation', () => {
  const cases = [mmmCases, singleCases];
  const services = [mmm, single];
  type Tree = Record<string, unknown> | unknown[];

  function paths(
    v: unknown,
    at: Array<string | number> = [],
    out: Array<Array<string | number>> = []
  ): Array<Array<string | number>> {
    out.push(at);
    if (v && typeof v === 'object') {
      for (const k of Object.keys(v)) {
        paths((v as Record<string, unknown>)[k], [...at, Array.isArray(v) ? Number(k) : k], out);
      }
    }
    return out;
  }

  function setAt(v: unknown, at: Array<string | number>, x: unknown): unknown {
    if (at.length === 0) {
      return x;
    }
    const copy = (Array.isArray(v) ? [...(v as unknown[])] : { ...(v as Record<string, unknown>) }) as Record<
      string,
      unknown
    >;
    const key = String(at[0]);
    copy[key] = setAt((v as Record<string, unknown>)[key], at.slice(1), x);
    return copy;
  }

  test('any part of the request, the orders or the data replaced by any JSON value', () => {
    const inputs = services.map((service, i) =>
      cases[i]!.cases.map((c) => ({ service, call: buildCaseInput(service, cases[i]!, c) }))
    );
    const all = inputs.flat();
    fc.assert(
      fc.property(
        fc.nat(all.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.jsonValue({ maxDepth: 3 })), { minLength: 1, maxLength: 4 }),
        (which, mutations) => {
          const { service, call } = all[which]!;
          const medications = {
            'Medication/med-1': { resourceType: 'Medication', id: 'med-1', code: { coding: [{ code: '475342' }] } },
          };
          let target: unknown = { request: call.request, orders: call.orders, data: call.data, medications };
          for (const [n, value] of mutations) {
            const all2 = paths(target);
            const at = all2[n % all2.length]!;
            if (at.length >= 2) {
              target = setAt(target, at, value);
            }
          }
          const t = target as { request: never; orders: unknown; data: unknown; medications: unknown };
          const orders = (Array.isArray(t.orders) ? t.orders : []).filter(
            (o): o is { index: number; order: never } =>
              !!o &&
              typeof o === 'object' &&
              !!(o as { order?: unknown }).order &&
              typeof (o as { order?: unknown }).order === 'object'
          );
          const data = (t.data && typeof t.data === 'object' ? t.data : {}) as never;
          const decisions = decide(service, {
            request: t.request,
            orders,
            data,
            ctx: { ...call.ctx, errors: [], notes: [] },
            medications: t.medications as never,
          });
          expect(decisions).toHaveLength(orders.length);
        }
      ),
      { numRuns: 1500, seed: 20240610 }
    );
  });

  test('nesting deep enough to overflow JSON.stringify, in the data and in the order', () => {
    let deep: Tree = {};
    for (let i = 0; i < 20000; i++) {
      deep = { a: deep };
    }
    const call = input(mmm, mmmCases, relapsed);
    const observations = call.data.observations as unknown as { entry: Array<{ resource: Record<string, unknown> }> };
    observations.entry[0]!.resource.extension = [deep];
    (call.orders[0]!.order as unknown as Record<string, unknown>).note = [deep];
    const [d] = decide(mmm, call);
    expect(d?.likelihood).toBe('likely');
  });
});

describe('speed (the issue: p99 <= 40 ms under load for about 30 resources)', () => {
  test('a call with about 30 resources is decided in a few milliseconds', () => {
    const resources = [
      ...relapsed.resources,
      'dasatinib',
      'crs',
      'mrd-flow',
      'mrd-pcr',
      'mrd-ngs',
      'cd19-blood-count',
      'interfant-plan',
      'dx-all',
      'status-improved',
      ...Array.from({ length: 12 }, (_, i) => ({
        use: 'weight',
        id: `w${i}`,
        effectiveDateTime: `2024-05-${String(i + 10)}`,
      })),
      { use: 'prior-cycle', id: 'p1' },
      { use: 'prior-cycle', id: 'p2' },
    ];
    const call = input(mmm, mmmCases, { resources, orders: relapsed.orders });
    for (let i = 0; i < 20; i++) {
      decide(mmm, { ...call, ctx: { ...call.ctx, errors: [], notes: [] } });
    }
    const started = performance.now();
    const runs = 50;
    for (let i = 0; i < runs; i++) {
      decide(mmm, { ...call, ctx: { ...call.ctx, errors: [], notes: [] } });
    }
    const mean = (performance.now() - started) / runs;
    expect(mean).toBeLessThan(25);
  });
});

describe('cost grows linearly with the orders (contract section 2)', () => {
  /** A call with `n` governed orders (distinct ids, same planned start) and as many co-ordered TKI drafts. */
  function call(n: number): ReturnType<typeof input> {
    const orders: PolicyCase['orders'] = [];
    for (let i = 0; i < n; i++) {
      orders.push({ use: 'blin-step-up', id: `blin-${i}` });
      orders.push({ use: 'dasatinib', id: `tki-${i}`, status: 'draft' });
    }
    return input(mmm, mmmCases, { resources: [...relapsed.resources, 'prior-cycle', 'mrd-flow'], orders });
  }

  function work(n: number): { expressions: number; codedItems: number } {
    const c = call(n);
    const before = evaluationCounts();
    const decisions = decide(mmm, c);
    const after = evaluationCounts();
    expect(decisions).toHaveLength(n);
    return { expressions: after.expressions - before.expressions, codedItems: after.codedItems - before.codedItems };
  }

  test('expressions evaluated and items looked at grow by the same amount for each order added', () => {
    const [w5, w10, w20] = [work(5), work(10), work(20)];
    // Exactly linear: the step from 10 to 20 orders is twice the step from 5 to 10.
    expect(w20.expressions - w10.expressions).toBe(2 * (w10.expressions - w5.expressions));
    expect(w20.codedItems - w10.codedItems).toBe(2 * (w10.codedItems - w5.codedItems));
    // What is evaluated again for each order is only what reads the order: a handful of expressions.
    expect((w10.expressions - w5.expressions) / 5).toBeLessThanOrEqual(6);
  });

  test('every order of a call gets the decision the first gets (shared results are not shared objects)', () => {
    const summary = (d: OrderDecision): unknown => ({
      ...d,
      orderIndex: undefined,
      order: undefined,
      orderRef: undefined,
      dose: { ...d.dose, correction: undefined },
    });
    const decisions = decide(mmm, call(4));
    for (const d of decisions) {
      expect(summary(d)).toEqual(summary(decisions[0]!));
      expect(d.criteria.find((c) => c.id === 'with-tki')?.evidence).toHaveLength(4);
    }
    expect(decisions[0]!.criteria[0]).not.toBe(decisions[1]!.criteria[0]);
    expect(decisions[0]!.criteria[0]!.evidence).not.toBe(decisions[1]!.criteria[0]!.evidence);
  });

  test('each order of a call is decided as it would be if it were the only one governed (both policies)', () => {
    // Orders that differ in what order-dependent rules read (phase, step-up, planned start, medication form) in one
    // call: sharing a result across them where it depends on the order would show up as a difference.
    const variants = [
      'blin-step-up',
      { use: 'blin-consolidation', id: 'o-consolidation' },
      { use: 'blin-maintenance', id: 'o-maintenance' },
      { use: 'blin-continued', id: 'o-continued' },
      {
        use: 'blin-28',
        id: 'o-later',
        dosageInstruction: [{ timing: { repeat: { boundsPeriod: { start: '2024-06-24', end: '2024-07-21' } } } }],
      },
      {
        use: 'blin-28',
        id: 'o-contained',
        medicationCodeableConcept: null,
        medicationReference: { reference: '#m' },
        contained: [
          {
            resourceType: 'Medication',
            id: 'm',
            code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1597263' }] },
          },
        ],
      },
    ];
    const resources = [
      'dx-remission',
      'cd19-pos',
      'status-remission',
      'mrd-flow',
      'weight',
      'height',
      'prednisone',
      'vincristine',
      'methotrexate-oral',
      { use: 'cd19-neg', effectiveDateTime: '2024-06-20' },
    ];
    for (const [service, cases] of [
      [mmm, mmmCases],
      [single, singleCases],
    ] as const) {
      const all = input(service, cases, { resources, orders: variants });
      const together = decide(service, all);
      expect(together).toHaveLength(variants.length);
      all.orders.forEach((governed, i) => {
        const [alone] = decide(service, { ...all, orders: [governed], ctx: { ...all.ctx, errors: [] } });
        expect({ service: service.id, order: i, decision: together[i] }).toEqual({
          service: service.id,
          order: i,
          decision: alone,
        });
      });
    }
  });

  test('what each rule depends on is derived from its expressions at load', () => {
    const policy = mmm.policy as CompiledPolicy;
    const fact = (name: string): readonly string[] | undefined => policy.facts.find((f) => f.name === name)?.dependsOn;
    const criterion = (id: string): readonly string[] | undefined => policy.criterionById.get(id)?.dependsOn;
    expect(fact('regimenDrugOrders')).toEqual([]);
    expect(fact('treatmentPhase')).toEqual(['order']);
    expect(fact('diagnosesAtCycle1')).toEqual(['cycle1Start']);
    expect(fact('diseasePhase')).toEqual(['cycle1Start']);
    expect(fact('activeToxicities')).toEqual(['plannedStart']);
    expect(fact('statusSinceCycle1')).toEqual(['plannedStart', 'cycle1Start']);
    expect(criterion('single-agent')).toEqual([]);
    expect(criterion('with-tki')).toEqual([]);
    expect(criterion('consolidation-phase')).toEqual(['order']);
    expect(criterion('maintenance-alternating-with-pomp')).toEqual(['order']);
    expect(policy.criterionById.get('maintenance-alternating-with-pomp')?.evidenceDependsOn).toEqual([]);
    expect(criterion('relapsed-or-refractory')).toEqual(['cycle1Start']);
    expect(policy.exclusions.map((x) => x.dependsOn)).toEqual([['cycle1Start'], ['cycle1Start']]);
  });

  test('orders with different planned starts each get their own dated facts', () => {
    // The second order starts after a CD19-negative result: its start of cycle 1 (its own start) reads it.
    const c = input(mmm, mmmCases, {
      resources: [...relapsed.resources, { use: 'cd19-neg', effectiveDateTime: '2024-06-20' }],
      orders: [
        'blin-step-up',
        {
          use: 'blin-28',
          id: 'blin-late',
          dosageInstruction: [{ timing: { repeat: { boundsPeriod: { start: '2024-07-01' } } } }],
        },
      ],
    });
    const [first, second] = decide(mmm, c);
    expect(first?.criteria.find((r) => r.id === 'cd19-positive')?.status).toBe('met');
    expect(second?.criteria.find((r) => r.id === 'cd19-positive')?.status).toBe('not-met');
    expect(second?.dates).toMatchObject({ plannedStart: '2024-07-01', cycle1Start: '2024-07-01' });
  });
});

describe('a call that must stop stops between orders (contract section 2)', () => {
  test('past its deadline: 503 deadline-exceeded', () => {
    const c = input(mmm, mmmCases, relapsed);
    const past = { ...c, ctx: { ...c.ctx, deadline: Date.now() - 1 } };
    let thrown: unknown;
    try {
      decide(mmm, past);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(HttpError);
    expect((thrown as HttpError).status).toBe(503);
    expect((thrown as HttpError).issues[0]?.code).toBe('deadline-exceeded');
  });

  test('a client that has gone: CallAbandoned', () => {
    const c = input(mmm, mmmCases, relapsed);
    const controller = new AbortController();
    controller.abort(new CallAbandoned());
    expect(() => decide(mmm, { ...c, ctx: { ...c.ctx, signal: controller.signal } })).toThrow(CallAbandoned);
  });
});
