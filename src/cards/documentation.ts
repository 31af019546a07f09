// The documentation card (contract section 6): sent only for `needs-documentation`; lists each missing item and
// exactly what to submit, and suggests a Task asking someone to complete the service's Questionnaire
// (CRD STU2 2.0.1 "Request form completion", profile-taskquestionnaire).
import type { Task } from 'fhir/r4';
import type { Card, HookRequest } from '../hooks/types';
import type { LoadedService, OrderDecision } from '../policy/types';
import { missingDocumentationLines } from './coverage-card';
import { MAX_DETAIL_LENGTH, MAX_SUMMARY_LENGTH, cutAtLine, escapeMarkdown, lengthOf } from './markdown';
import { questionnaireCanonical } from './questionnaire';
import {
  CRD_TEMP_SYSTEM,
  DRUG_NAME_LONG,
  SDC_TEMP_SYSTEM,
  cardSource,
  orderInWords,
  payerAttributive,
  payerName,
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
    description: `Complete ${payerAttributive(service)} documentation questionnaire for this ${DRUG_NAME_LONG} order`,
    for: { reference: patientReference(opts.request.context.patientId) },
    authoredOn: opts.receivedDate,
    requester: { type: 'Organization', display: service.labelNamesPayer ? service.label : 'Health plan' },
    reasonCode: { coding: [{ system: CRD_TEMP_SYSTEM, code: 'reason-prior-auth', display: 'Prior authorization' }] },
    input: [
      {
        type: {
          coding: [{ system: SDC_TEMP_SYSTEM, code: 'questionnaire', display: 'Questionnaire' }],
          text: 'questionnaire',
        },
        valueCanonical: questionnaireCanonical(service, opts.baseUrl),
      },
      {
        type: {
          coding: [{ system: CRD_TEMP_SYSTEM, code: 'after-completion-action', display: 'After-completion action' }],
          text: 'afterCompletion',
        },
        valueCodeableConcept: {
          coding: [{ system: CRD_TEMP_SYSTEM, code: 'prior-auth-include', display: 'Include in prior authorization' }],
          text: `Submit the completed questionnaire to ${payerName(service)} with the prior authorization request`,
        },
      },
    ],
  };
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function documentationSummary(service: LoadedService, decision: OrderDecision): string {
  const n = decision.missingDocumentation.length;
  const what = n > 0 ? plural(n, 'item', 'items') : 'the documentation';
  const head = `${summaryPrefix(decision)}: send ${what}`;
  for (const tail of [
    ` to ${payerName(service)} with the prior authorization request`,
    ' with the prior authorization request',
  ]) {
    if (lengthOf(`${head}${tail}`) <= MAX_SUMMARY_LENGTH) {
      return `${head}${tail}`;
    }
  }
  return head;
}

/**
 * The documentation card for one `needs-documentation` order: each item and exactly what to submit, in words (no
 * raw canonical URL). A draft order without an id gets the card without a suggestion (nothing can be based on it).
 */
export function buildDocumentationCard(
  service: LoadedService,
  decision: OrderDecision,
  opts: DocumentationOptions & { uuid: () => string; orderCount?: number }
): Card {
  const items = decision.missingDocumentation;
  const payer = escapeMarkdown(payerName(service));
  const questionnaire = `${escapeMarkdown(payerAttributive(service))} documentation questionnaire`;
  const order = orderInWords(decision, opts.orderCount ?? 1);
  const orderRef = decision.orderRef;
  const closing = orderRef
    ? `The suggestion creates a task to complete ${questionnaire} for this order.`
    : `This order has no id yet, so no task can be attached to it: complete ${questionnaire} or send the documents with the request.`;
  const render = (short: boolean): string =>
    [
      `Send these to ${payer} with the prior authorization request for ${order}:`,
      ...(items.length > 0 ? [missingDocumentationLines(service, decision, items, short).join('\n')] : []),
      closing,
    ].join('\n\n');
  let detail = render(false);
  if (lengthOf(detail) > MAX_DETAIL_LENGTH) {
    detail = cutAtLine(render(true), MAX_DETAIL_LENGTH, '(Shortened: the questionnaire lists every item.)');
  }
  const card: Card = {
    uuid: opts.uuid(),
    summary: documentationSummary(service, decision),
    detail,
    indicator: 'warning',
    source: cardSource(service, 'coverage-info'),
  };
  if (orderRef) {
    card.selectionBehavior = 'at-most-one';
    card.suggestions = [
      {
        label: `Create a task to complete ${payerAttributive(service)} documentation questionnaire`,
        uuid: opts.uuid(),
        isRecommended: true,
        actions: [
          {
            type: 'create',
            description: `Create a task to complete ${payerAttributive(service)} documentation questionnaire for this ${DRUG_NAME_LONG} order`,
            resource: buildQuestionnaireTask(service, orderRef, opts),
          },
        ],
      },
    ];
  }
  return card;
}
