// The documentation card (contract section 6): sent only for `needs-documentation`; lists each missing item and
// exactly what to submit, and suggests a Task asking someone to complete the service's Questionnaire
// (CRD STU2 2.0.1 "Request form completion", profile-taskquestionnaire).
import type { Task } from 'fhir/r4';
import type { Card, HookRequest } from '../hooks/types';
import type { LoadedService, OrderDecision } from '../policy/types';
import { missingDocumentationLines } from './coverage-card';
import { codeSpan, escapeMarkdown, toSummary } from './markdown';
import { questionnaireCanonical } from './questionnaire';
import {
  CRD_TEMP_SYSTEM,
  DRUG_NAME_LONG,
  SDC_TEMP_SYSTEM,
  cardSource,
  describeOrderMarkdown,
  policyName,
  summaryPrefix,
} from './shared';

export const TASK_QUESTIONNAIRE_PROFILE =
  'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/profile-taskquestionnaire';

export interface DocumentationOptions {
  request: HookRequest;
  receivedDate: string;
  baseUrl: string;
}

function patientReference(patientId: string): string {
  return patientId.startsWith('Patient/') ? patientId : `Patient/${patientId}`;
}

/**
 * The Task of CRD 2.0.1's questionnaire-task profile: ready/order, `complete-questionnaire`, for the patient, based
 * on the order, requested by the payer (an Organization by display), with the Questionnaire canonical and the
 * after-completion action as inputs, and no `focus` (SDC invariant sdc-t1).
 *
 * After completion: CRD's own code `prior-auth-include` ("Include in prior authorization") from its temporary code
 * system, the value set the profile binds (extensibly) the `afterCompletion` input to; its text says the same in
 * words for clients that show text only.
 */
export function buildQuestionnaireTask(service: LoadedService, orderRef: string, opts: DocumentationOptions): Task {
  return {
    resourceType: 'Task',
    meta: { profile: [TASK_QUESTIONNAIRE_PROFILE] },
    basedOn: [{ reference: orderRef }],
    status: 'ready',
    intent: 'order',
    code: { coding: [{ system: SDC_TEMP_SYSTEM, code: 'complete-questionnaire', display: 'Complete Questionnaire' }] },
    description: `Complete the ${service.label} documentation questionnaire for the ${DRUG_NAME_LONG} order ${orderRef}`,
    for: { reference: patientReference(opts.request.context.patientId) },
    authoredOn: opts.receivedDate,
    requester: { type: 'Organization', display: service.label },
    reasonCode: { coding: [{ system: CRD_TEMP_SYSTEM, code: 'reason-prior-auth', display: 'Prior authorization' }] },
    input: [
      {
        type: { coding: [{ system: SDC_TEMP_SYSTEM, code: 'questionnaire', display: 'Questionnaire' }] },
        valueCanonical: questionnaireCanonical(service, opts.baseUrl),
      },
      {
        type: {
          coding: [{ system: CRD_TEMP_SYSTEM, code: 'after-completion-action', display: 'After-completion action' }],
        },
        valueCodeableConcept: {
          coding: [{ system: CRD_TEMP_SYSTEM, code: 'prior-auth-include', display: 'Include in prior authorization' }],
          text: `Submit the completed questionnaire to ${service.label} with the prior authorization request`,
        },
      },
    ],
  };
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The documentation card for one `needs-documentation` order. A draft order without an id gets the card without a
 * suggestion (nothing can be based on it).
 */
export function buildDocumentationCard(
  service: LoadedService,
  decision: OrderDecision,
  opts: DocumentationOptions & { uuid: () => string }
): Card {
  const items = decision.missingDocumentation;
  const what = items.length > 0 ? plural(items.length, 'documentation item', 'documentation items') : 'documentation';
  const payer = escapeMarkdown(service.label);
  const canonical = questionnaireCanonical(service, opts.baseUrl);
  const blocks: string[] = [
    describeOrderMarkdown(decision),
    `Submit the following to ${payer} with the prior authorization request; the record could not show them:`,
  ];
  if (items.length > 0) {
    blocks.push(missingDocumentationLines(items).join('\n'));
  }
  const orderRef = decision.orderRef;
  blocks.push(
    orderRef
      ? `The suggestion creates a task to complete the ${payer} documentation questionnaire (${codeSpan(canonical)}).`
      : `The order has no id yet, so no task can be attached to it: use the ${payer} documentation questionnaire ` +
          `(${codeSpan(canonical)}) or send the documents with the request.`
  );
  const card: Card = {
    uuid: opts.uuid(),
    summary: toSummary(
      `${summaryPrefix(decision)}: submit ${what} with the prior authorization request (${policyName(service)})`
    ),
    detail: blocks.join('\n\n'),
    indicator: 'warning',
    source: cardSource(service, 'coverage-info'),
  };
  if (orderRef) {
    card.selectionBehavior = 'at-most-one';
    card.suggestions = [
      {
        label: `Create a task to complete the ${service.label} documentation questionnaire`,
        uuid: opts.uuid(),
        isRecommended: true,
        actions: [
          {
            type: 'create',
            description: `Create a task to complete the ${service.label} documentation questionnaire for this order`,
            resource: buildQuestionnaireTask(service, orderRef, opts),
          },
        ],
      },
    ];
  }
  return card;
}
