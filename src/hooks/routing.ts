// Choosing the policy of a routed call by the payer (contract section 1, "One endpoint per hook for every payer";
// clinical data profile section 6): the active Coverages come from prefetch or one search; the first active Coverage
// whose `payor` (the reference's `identifier`, or the `identifier` of the payor Organization included with
// `_include=Coverage:payor`) a policy declares picks that policy. Active Coverages none of which is handled: 400
// `payer-not-handled` (CRD 2.2's rule); no active Coverage: the caller answers one warning card.
import type { BundleEntry, Coverage, FhirResource, Identifier, Organization, Reference } from 'fhir/r4';
import { HttpError } from '../errors';
import { namesAnotherPatient } from '../fhir/patient-scope';
import type { LoadedService } from '../policy/types';
import { payerKey, templateType, type RoutedTarget } from './services';
import type { PrefetchData } from './types';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asArray(value: unknown): unknown[] {
  if (Array.isArray(value)) {
    return value;
  }
  return value === undefined || value === null ? [] : [value];
}

/** The routed key whose data the route reads: the first routed template that searches Coverage. */
export function coverageKeyOf(target: RoutedTarget): string | undefined {
  return Object.entries(target.prefetch.templates).find(([, template]) => templateType(template) === 'Coverage')?.[0];
}

/** The id of the Organization a reference names, if it names one. */
function organizationIdOf(reference: Reference): string | undefined {
  return typeof reference.reference === 'string'
    ? /(?:^|\/)Organization\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference.reference)?.[1]
    : undefined;
}

function identifiersOf(value: unknown): Array<{ system: string; value: string }> {
  return asArray(value).flatMap((i: unknown) => {
    const id = i as Identifier;
    return isObject(i) && typeof id.system === 'string' && typeof id.value === 'string'
      ? [{ system: id.system.trim(), value: id.value.trim() }]
      : [];
  });
}

/** The route a routed call takes. */
export type Route =
  | {
      kind: 'policy';
      policy: LoadedService;
      /** `Coverage/{id}` of the Coverage that chose it. */
      coverage: string;
      /** The coverage data with that Coverage first, so that the policy's assertion is about it. */
      coverageData: FhirResource;
    }
  | { kind: 'no-active-coverage' };

/**
 * Chooses the policy by the payer.
 * @param target - the routed service's policies and payer index.
 * @param coverageData - the gathered value of the coverage key (a searchset, a single Coverage, or null).
 * @param patientId - `context.patientId`: a Coverage whose beneficiary names another patient is never used.
 * @param coverageExpression - where the Coverages came from, for the 400's expression (absent: fetched).
 * @throws HttpError 400 `payer-not-handled` when there are active Coverages and no policy handles their payers.
 */
export function routeByPayer(
  target: RoutedTarget,
  coverageData: FhirResource | null,
  patientId: string,
  coverageExpression?: string
): Route {
  const entries: BundleEntry[] =
    coverageData === null
      ? []
      : coverageData.resourceType === 'Bundle'
        ? asArray(coverageData.entry).filter(isObject)
        : [{ resource: coverageData }];
  const organizations = new Map<string, Organization>();
  for (const entry of entries) {
    const resource = entry.resource;
    if (isObject(resource) && resource.resourceType === 'Organization' && typeof resource.id === 'string') {
      organizations.set(resource.id, resource as Organization);
    }
  }
  const active = entries.filter((entry) => {
    const coverage = entry.resource as Coverage | undefined;
    // Contract section 2: a resource naming another patient is never evaluated, nor used to route. gatherData has
    // already dropped such Coverages; the same check here keeps the route right whatever data it is given.
    return (
      isObject(coverage) &&
      coverage.resourceType === 'Coverage' &&
      coverage.status === 'active' &&
      !namesAnotherPatient(coverage, patientId)
    );
  });
  if (active.length === 0) {
    return { kind: 'no-active-coverage' };
  }

  const seen: string[] = [];
  for (const entry of active) {
    const coverage = entry.resource as Coverage;
    for (const payor of asArray(coverage.payor)) {
      if (!isObject(payor)) {
        continue;
      }
      const reference = payor as Reference;
      const orgId = organizationIdOf(reference);
      const organization = orgId === undefined ? undefined : organizations.get(orgId);
      const identifiers = [...identifiersOf(reference.identifier), ...identifiersOf(organization?.identifier)];
      for (const identifier of identifiers) {
        const policy = target.payers.get(payerKey(identifier));
        if (policy) {
          const chosen = typeof coverage.id === 'string' ? `Coverage/${coverage.id}` : 'a Coverage without id';
          return { kind: 'policy', policy, coverage: chosen, coverageData: withFirst(coverageData, entry) };
        }
        seen.push(payerKey(identifier));
      }
    }
  }
  const found =
    seen.length > 0 ? `payer identifiers found: ${[...new Set(seen)].join(', ')}` : 'no payer identifier found';
  throw new HttpError({
    code: 'payer-not-handled',
    message:
      `No policy of this service handles the payer of the patient's active coverage (${found}; the payor is read ` +
      "from the reference's identifier or the included payor Organization's).",
    ...(coverageExpression ? { expression: coverageExpression } : {}),
  });
}

/** The coverage data with `first` as its first entry (a copy; the resources are shared, read only). */
function withFirst(data: FhirResource | null, first: BundleEntry): FhirResource {
  if (data === null || data.resourceType !== 'Bundle') {
    return data as FhirResource;
  }
  const rest = asArray(data.entry).filter((e) => e !== first) as BundleEntry[];
  return { ...data, entry: [first, ...rest] };
}

/**
 * The chosen policy's data under its own keys, from the routed keys (contract section 1: the policy's evaluation
 * answers as its own service would).
 * @param target - the routed service
 * @param policy - the chosen policy
 * @param data - the gathered data, by routed key
 */
export function dataForPolicy(target: RoutedTarget, policy: LoadedService, data: PrefetchData): PrefetchData {
  const keys = target.prefetch.keys.get(policy.id) ?? {};
  const own: PrefetchData = {};
  for (const [key, routedKey] of Object.entries(keys)) {
    own[key] = data[routedKey] ?? null;
  }
  return own;
}

/** The chosen policy's templates under the routed keys (what is gathered: the 412s name the keys the client sees). */
export function templatesForPolicy(target: RoutedTarget, policy: LoadedService): Record<string, string> {
  const keys = target.prefetch.keys.get(policy.id) ?? {};
  const templates: Record<string, string> = {};
  for (const routedKey of Object.values(keys)) {
    const template = target.prefetch.templates[routedKey];
    if (template !== undefined) {
      templates[routedKey] = template;
    }
  }
  return templates;
}
