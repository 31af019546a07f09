import type { HookRequest, PrefetchData } from '../hooks/types';
import { CodeMatcher } from './code-sets';
import { collectionOf, copyJson, indexCall, resolveMedication, type Json } from './data';

const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const drug = new CodeMatcher([{ system: RXNORM, codes: ['1597262', '1597263'] }]);
const blin = { coding: [{ system: RXNORM, code: '1597262' }] };
const dasatinib = { coding: [{ system: RXNORM, code: '475342' }] };

function bundle(...resources: unknown[]): Json {
  return { resourceType: 'Bundle', type: 'searchset', entry: resources.map((resource) => ({ resource })) };
}

function request(...drafts: Json[]): HookRequest {
  return {
    hook: 'order-sign',
    hookInstance: 'x',
    context: {
      patientId: 'p',
      userId: 'Practitioner/u',
      draftOrders: { resourceType: 'Bundle', entry: drafts.map((resource) => ({ resource })) } as never,
    },
  };
}

function mr(id: string, status: string, extra: Json = {}): Json {
  return { resourceType: 'MedicationRequest', id, status, intent: 'order', medicationCodeableConcept: blin, ...extra };
}

describe('indexCall', () => {
  test('copies every resource once, drops what never counts, and indexes Observations by code', () => {
    const cd19 = {
      resourceType: 'Observation',
      id: 'o1',
      status: 'final',
      code: { coding: [{ system: 'L', code: 'cd19-blasts' }] },
    };
    const data = {
      observations: bundle(
        cd19,
        { ...cd19, id: 'o2', status: 'entered-in-error' },
        { ...cd19, id: 'o3', status: 'cancelled' }
      ),
      again: bundle(cd19),
      conditions: bundle(
        { resourceType: 'Condition', id: 'c1' },
        { resourceType: 'Condition', id: 'c2', verificationStatus: { coding: [{ code: 'entered-in-error' }] } }
      ),
    } as unknown as PrefetchData;
    const notes: string[] = [];
    const index = indexCall(request(), data, drug, notes);
    expect(index.byType.get('Observation')?.map((o) => o.id)).toEqual(['o1']);
    expect(index.byType.get('Condition')?.map((c) => c.id)).toEqual(['c1']);
    expect(index.byType.get('Observation')?.[0]).not.toBe(cd19);
    expect(index.observationsByCode.get('L|CD19-BLASTS')?.map((o) => o.id)).toEqual(['o1']);
    const collection = collectionOf(index, {
      name: 'cd19',
      resourceType: 'Observation',
      source: 'data',
      codes: new CodeMatcher([{ system: 'L', codes: ['CD19-BLASTS'] }]),
    });
    expect(collection.map((o) => o.id)).toEqual(['o1']);
    expect(notes).toEqual([]);
  });

  test('copies a resource only when it is read, once, and never hands out the data itself', () => {
    const code = (c: string): Json => ({ coding: [{ system: 'L', code: c }] });
    const obs = (id: string, c: string): Json => ({ resourceType: 'Observation', id, status: 'final', code: code(c) });
    const data = { observations: bundle(obs('a', 'CD19-BLASTS'), obs('b', 'MRD-FLOW'), obs('c', 'CD19-BLASTS')) };
    const before = JSON.stringify(data);
    const index = indexCall(request(), data as unknown as PrefetchData, drug, []);
    const cd19 = collectionOf(index, {
      name: 'cd19',
      resourceType: 'Observation',
      source: 'data',
      codes: new CodeMatcher([{ system: 'L', codes: ['CD19-BLASTS'] }]),
    });
    const anyCd19 = collectionOf(index, {
      name: 'cd19-prefix',
      resourceType: 'Observation',
      source: 'data',
      codes: new CodeMatcher([{ system: 'L', prefixes: ['CD19'] }]),
    });
    expect(cd19.map((o) => o.id)).toEqual(['a', 'c']);
    // One copy per resource, shared by every reader; never the resource as received.
    expect(anyCd19[0]).toBe(cd19[0]);
    expect(index.byType.get('Observation')?.[0]).toBe(cd19[0]);
    const originals = (data.observations.entry as Array<{ resource: Json }>).map((e) => e.resource);
    for (const copy of index.byType.get('Observation') ?? []) {
      expect(originals).not.toContain(copy);
    }
    (cd19[0] as Json).status = 'changed';
    expect(JSON.stringify(data)).toBe(before);
    expect(index.byType.has('Observation')).toBe(true);
    expect(index.byType.get('Condition')).toBeUndefined();
  });

  test('tolerates junk in the data and the draft orders', () => {
    const data = {
      a: 'text',
      b: [1, 2],
      c: { resourceType: 'Bundle', entry: 'nope' },
      d: { noType: true },
      e: null,
    } as unknown as PrefetchData;
    const bad = {
      hook: 'order-sign',
      hookInstance: 'x',
      context: { patientId: 'p', userId: 'u', draftOrders: { entry: [null, 5, { resource: 'x' }] } },
    };
    const index = indexCall(bad as unknown as HookRequest, data, drug, []);
    expect(index.draftOrders).toEqual([]);
    expect(index.priorCycles).toEqual([]);
    expect(index.patient).toBeUndefined();
    expect(index.coverage).toBeUndefined();
  });

  test('prior cycles: active, completed or stopped blinatumomab orders on file that are not draft orders', () => {
    const data = {
      medicationRequests: bundle(
        mr('h1', 'completed', {
          dosageInstruction: [{ timing: { repeat: { boundsPeriod: { start: '2024-03-01' } } } }],
        }),
        mr('h2', 'active', { authoredOn: '2024-02-01' }),
        mr('h3', 'stopped'),
        mr('h4', 'cancelled'),
        mr('h5', 'draft'),
        mr('d1', 'active'),
        mr('tki', 'active', { medicationCodeableConcept: dasatinib })
      ),
    } as unknown as PrefetchData;
    const index = indexCall(request(mr('d1', 'draft')), data, drug, []);
    expect(index.priorCycles.map((o) => o.id)).toEqual(['h1', 'h2', 'h3']);
    expect(index.firstPriorStart).toBe('2024-02-01');
    expect(index.activeOrders.map((o) => o.id)).toEqual(['h2', 'tki']);
  });

  test('prior cycles are planned before the given start; undated ones count without placing cycle 1', () => {
    const data = {
      medicationRequests: bundle(
        mr('before', 'completed', { authoredOn: '2024-05-31' }),
        mr('same-day', 'completed', { authoredOn: '2024-06-01' }),
        mr('after', 'active', { authoredOn: '2024-07-01' }),
        mr('undated', 'completed')
      ),
    } as unknown as PrefetchData;
    const index = indexCall(request(), data, drug, [], undefined, '2024-06-01');
    expect(index.priorCycles.map((o) => o.id)).toEqual(['before', 'undated']);
    expect(index.firstPriorStart).toBe('2024-05-31');
  });

  test('medications are resolved from contained resources and the data; unresolved ones are noted, not counted', () => {
    const data = {
      medicationRequests: bundle(
        { resourceType: 'Medication', id: 'm1', code: blin },
        mr('h1', 'completed', {
          medicationCodeableConcept: undefined,
          medicationReference: { reference: 'Medication/m1' },
        }),
        mr('h2', 'completed', {
          medicationCodeableConcept: undefined,
          medicationReference: { reference: 'https://ehr.example/fhir/Medication/m1/_history/2' },
        }),
        mr('h3', 'completed', {
          medicationCodeableConcept: undefined,
          medicationReference: { reference: '#c' },
          contained: [{ resourceType: 'Medication', id: 'c', code: blin }],
        }),
        mr('h4', 'completed', {
          medicationCodeableConcept: undefined,
          medicationReference: { reference: 'Medication/elsewhere' },
        }),
        mr('h5', 'active', { medicationCodeableConcept: undefined })
      ),
    } as unknown as PrefetchData;
    const notes: string[] = [];
    const index = indexCall(request(), data, drug, notes);
    expect(index.priorCycles.map((o) => o.id)).toEqual(['h1', 'h2', 'h3']);
    expect(index.priorCycles[0]?.medicationCodeableConcept).toEqual(blin);
    expect(index.priorCycles[0]?.medicationReference).toBeUndefined();
    expect(notes).toHaveLength(2);
    expect(notes[0]).toContain('MedicationRequest/h4');
    expect(notes[1]).toContain('MedicationRequest/h5');
  });

  test("regimen: this call's draft orders (not cancelled, stopped or entered in error) and the active orders on file", () => {
    const drafts = [
      mr('d1', 'draft'),
      mr('d2', 'cancelled', { medicationCodeableConcept: dasatinib }),
      mr('d3', 'draft', { medicationCodeableConcept: dasatinib }),
    ];
    const data = {
      medicationRequests: bundle(mr('h1', 'active', { medicationCodeableConcept: dasatinib }), mr('d3', 'active')),
    } as unknown as PrefetchData;
    const index = indexCall(request(...drafts), data, drug, []);
    const regimen = collectionOf(index, { name: 'regimen', resourceType: 'MedicationRequest', source: 'regimen' });
    expect(regimen.map((o) => o.id)).toEqual(['d1', 'd3', 'h1']);
    expect(drafts[0]).toEqual(mr('d1', 'draft'));
  });

  test('the patient comes from the patient key, and the coverage is the first active one with an id', () => {
    const data = {
      patient: { resourceType: 'Patient', id: 'p', birthDate: '2000-01-01' },
      coverage: bundle(
        { resourceType: 'Coverage', status: 'active' },
        { resourceType: 'Coverage', id: 'old', status: 'draft' },
        { resourceType: 'Coverage', id: 'c2', status: 'active' }
      ),
    } as unknown as PrefetchData;
    const index = indexCall(request(), data, drug, []);
    expect(index.patient?.birthDate).toBe('2000-01-01');
    expect(index.coverage).toBe('Coverage/c2');
  });
});

describe('resolveMedication', () => {
  test('reports how the medication was found', () => {
    const meds = new Map<string, Json>([['Medication/m1', { resourceType: 'Medication', id: 'm1', code: blin }]]);
    expect(resolveMedication({ medicationCodeableConcept: blin }, meds)).toBe('inline');
    expect(resolveMedication({ medicationReference: { reference: 'Medication/m1' } }, meds)).toBe('data');
    expect(
      resolveMedication(
        { medicationReference: { reference: '#x' }, contained: [{ resourceType: 'Medication', id: 'x', code: blin }] },
        meds
      )
    ).toBe('contained');
    expect(resolveMedication({ medicationReference: { reference: 'Medication/m2' } }, meds)).toBe('unresolved');
    expect(resolveMedication({ medicationReference: { display: 'blinatumomab' } }, meds)).toBe('none');
  });
});

describe('copyJson', () => {
  test('copies JSON data deeply', () => {
    const value = { a: [1, 'x', true, null, { b: { c: [2] } }], d: { e: 'f', n: null } };
    const copy = copyJson(value);
    expect(copy).toEqual(value);
    expect(copy.a[4]).not.toBe(value.a[4]);
  });

  test('drops what is not JSON data, and objects met twice (cycles)', () => {
    const cyclic: Record<string, unknown> = { a: 1, f: () => 1, u: undefined };
    cyclic.self = cyclic;
    expect(copyJson(cyclic)).toEqual({ a: 1 });
    expect(copyJson([1, undefined, () => 2])).toEqual([1, null, null]);
  });

  test('survives nesting that JSON.stringify cannot, and cuts it at the depth asked', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 50000; i++) {
      deep = { a: deep };
    }
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(() => copyJson(deep)).not.toThrow();
    expect(copyJson({ x: 1, deep: { y: { z: {} } }, list: [[[1]]] }, 2)).toEqual({ x: 1, deep: {}, list: [null] });
  });
});
