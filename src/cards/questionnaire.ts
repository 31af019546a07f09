// The documentation Questionnaire of each service (contract section 6), served at
// `GET {base}/fhir/Questionnaire/{service-id}`: one item per documentation request of the policy.
import type { Questionnaire, QuestionnaireItem } from 'fhir/r4';
import type { LoadedService, MissingDocumentation } from '../policy/types';
import { policyName } from './shared';

/** The base URL without trailing slashes. */
function trimBase(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '');
}

/** The Questionnaire's canonical URL: `{base}/fhir/Questionnaire/{service-id}`. */
export function questionnaireUrl(service: Pick<LoadedService, 'id'>, baseUrl: string): string {
  return `${trimBase(baseUrl)}/fhir/Questionnaire/${service.id}`;
}

/** The versioned canonical used by coverage-information and the Task: `{canonical}|{version}`. */
export function questionnaireCanonical(service: Pick<LoadedService, 'id' | 'version'>, baseUrl: string): string {
  return `${questionnaireUrl(service, baseUrl)}|${service.version}`;
}

/** A FHIR `name` (computable): letters and digits from the service id, starting with a capital. */
function computableName(id: string): string {
  const words = id.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  const name = words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
  return /^[A-Z]/.test(name) ? `${name}Documentation` : `Q${name}Documentation`;
}

// What each kind of request asks for: an attestation is a yes/no, a document to submit is an attachment, a fact
// the record could not show is answered in words (with a document attached when one exists).
const ITEM_TYPE: Record<MissingDocumentation['kind'], QuestionnaireItem['type']> = {
  attestation: 'boolean',
  'submit-with-request': 'attachment',
  'unknown-criterion': 'text',
};

/**
 * The service's documentation Questionnaire, in valid R4 shape.
 * @param service - the loaded service; `documentation` gives the items, in order, with stable linkIds (their ids).
 * @param baseUrl - the public base URL (CDS_PUBLIC_BASE_URL).
 */
export function buildQuestionnaire(service: LoadedService, baseUrl: string): Questionnaire {
  const seen = new Set<string>();
  const items: QuestionnaireItem[] = [];
  for (const d of service.documentation) {
    if (!d.id || seen.has(d.id)) {
      continue;
    }
    seen.add(d.id);
    items.push({ linkId: d.id, text: d.text, type: ITEM_TYPE[d.kind] ?? 'text' });
  }
  const q: Questionnaire = {
    resourceType: 'Questionnaire',
    id: service.id,
    url: questionnaireUrl(service, baseUrl),
    version: service.version,
    name: computableName(service.id),
    title: `Blinatumomab (Blincyto) documentation: ${policyName(service)}`,
    status: 'active',
    subjectType: ['Patient'],
    // The publisher is the payer, named only when the policy's label names it (contract section 6).
    ...(service.labelNamesPayer ? { publisher: service.label } : {}),
    description:
      `Documentation that the ${policyName(service)} asks for with a blinatumomab prior authorization request ` +
      'when the patient record cannot show it.',
  };
  if (service.effectiveDate) {
    q.effectivePeriod = { start: service.effectiveDate };
  }
  if (items.length > 0) {
    q.item = items;
  }
  return q;
}
