// Da Vinci CRD STU2 2.0.1 coverage-information (contract section 5; checklist 2.2): the extension, the rules for
// replacing an earlier assertion, and the `update` system action that carries the order back to the EHR.
// https://hl7.org/fhir/us/davinci-crd/STU2/StructureDefinition-ext-coverage-information.html
import type { Extension, MedicationRequest, Reference } from 'fhir/r4';
import type { Action } from '../hooks/types';
import { cloneJson } from '../dosing/json';
import type { Likelihood, LoadedService, OrderDecision } from '../policy/types';
import { normaliseR4InPlace } from './r4-normalise';
import { CRD_TEMP_SYSTEM, DRUG_NAME_LONG, UCUM_SYSTEM, payerAttributive, policyName, pruneEmpty } from './shared';

export const COVERAGE_INFORMATION_URL =
  'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';

/** What an assertion says, compared to decide whether anything is new (CRD: no update "unless something is new"). */
export interface CoverageOutcome {
  covered: string;
  paNeeded?: string;
  docNeeded?: string;
}

/**
 * Contract section 5's table. On a secondary hook (order-select) coverage information never asks for documentation
 * (CRD: "SHALL NOT signal a need for clinical or administrative documentation"): no `doc-needed`.
 */
export function outcomeFor(likelihood: Likelihood, opts: { secondary?: boolean } = {}): CoverageOutcome {
  switch (likelihood) {
    case 'likely':
    case 'needs-documentation':
    case 'unlikely':
      return opts.secondary
        ? { covered: 'covered', paNeeded: 'auth-needed' }
        : { covered: 'covered', paNeeded: 'auth-needed', docNeeded: 'clinical' };
    case 'not-covered':
      return { covered: 'not-covered' };
  }
}

export interface CoverageInformationOptions {
  /** The UTC date the call was received (YYYY-MM-DD). */
  receivedDate: string;
  /** The order's coverage-assertion-id: kept in the store per order, Coverage, policy and version (section 5). */
  assertionId: string;
  /**
   * `assertionId` is the stored one: an assertion the order already carries for the Coverage is ours (and, with the
   * same outcome, nothing is sent) only when it carries this id.
   */
  keptAssertion?: boolean;
  /** `{canonical}|{version}`: present exactly when a documentation card is sent for this order. */
  questionnaire?: string;
  /** A secondary hook (order-select): no `doc-needed`, hence no `questionnaire`. */
  secondary?: boolean;
}

function sub(url: string, value: Omit<Extension, 'url'>): Extension {
  return { url, ...value };
}

/** Plain-words reason for an `unlikely` or `not-covered` assertion; undefined for the others. */
export function reasonText(service: LoadedService, decision: OrderDecision): string | undefined {
  if (decision.likelihood === 'not-covered') {
    const reasons = decision.notCoveredReasons.map((r) => r.trim()).filter((r) => r !== '');
    return reasons.length > 0
      ? `Not covered under the ${policyName(service)}: ${reasons.join('; ')}`
      : `Not covered under the ${policyName(service)}.`;
  }
  if (decision.likelihood === 'unlikely') {
    // What is not met on the best pathway (every pathway has something not met; the best one is the closest).
    const ids = new Set(decision.pathway?.criteria ?? decision.criteria.map((c) => c.id));
    const notMet = decision.criteria
      .filter((c) => ids.has(c.id) && c.status === 'not-met')
      .map((c) => `${c.description} (${c.clause})`);
    const where = decision.pathway ? ` on ${decision.pathway.title}` : '';
    return notMet.length > 0
      ? `Not met under the ${policyName(service)}${where}: ${notMet.join('; ')}`
      : `No pathway of the ${policyName(service)} is met.`;
  }
  return undefined;
}

/**
 * The coverage-information extension for one order and its Coverage (`decision.coverage` must be set).
 * Sub-extensions follow the 2.0.1 profile's order.
 */
export function buildCoverageInformation(
  service: LoadedService,
  decision: OrderDecision,
  opts: CoverageInformationOptions
): Extension {
  const outcome = outcomeFor(decision.likelihood, { secondary: opts.secondary === true });
  const covered = outcome.covered !== 'not-covered';
  const parts: Extension[] = [
    sub('coverage', { valueReference: { reference: decision.coverage ?? '' } }),
    sub('covered', { valueCode: outcome.covered }),
  ];
  if (outcome.paNeeded) {
    parts.push(sub('pa-needed', { valueCode: outcome.paNeeded }));
  }
  if (outcome.docNeeded) {
    parts.push(sub('doc-needed', { valueCode: outcome.docNeeded }));
  }
  const billing = service.billingCode;
  parts.push(
    sub('billingCode', {
      valueCoding: billing.display
        ? { system: billing.system, code: billing.code, display: billing.display }
        : { system: billing.system, code: billing.code },
    })
  );
  const reason = reasonText(service, decision);
  if (reason) {
    parts.push(sub('reason', { valueCodeableConcept: { text: reason } }));
  }
  if (covered) {
    parts.push(allowedQuantity(service));
    const period = decision.dose.allowedPeriod;
    if (period?.start && period.end) {
      parts.push(
        detail(
          'allowed-period',
          'Maximum allowed period',
          { valuePeriod: { start: period.start, end: period.end } },
          'one treatment cycle from the planned start'
        )
      );
    }
    if (opts.questionnaire && outcome.docNeeded) {
      // crd-ci-q1: a questionnaire only with doc-needed.
      parts.push(sub('questionnaire', { valueCanonical: opts.questionnaire }));
    }
  }
  parts.push(sub('date', { valueDate: opts.receivedDate }));
  parts.push(sub('coverage-assertion-id', { valueString: opts.assertionId }));
  return { url: COVERAGE_INFORMATION_URL, extension: parts };
}

function detail(code: string, display: string, value: Omit<Extension, 'url'>, qualification: string): Extension {
  return {
    url: 'detail',
    extension: [
      sub('code', { valueCodeableConcept: { coding: [{ system: CRD_TEMP_SYSTEM, code, display }] } }),
      sub('value', value),
      sub('qualification', { valueString: qualification }),
    ],
  };
}

/** `allowed-quantity`: the vials allowed per cycle (contract section 7: 28 vials of 35 mcg). */
function allowedQuantity(service: LoadedService): Extension {
  return detail(
    'allowed-quantity',
    'Maximum quantity',
    {
      valueQuantity: { value: service.dosing.limits.vialsPerCycle, unit: 'vial', system: UCUM_SYSTEM, code: '{vial}' },
    },
    'per cycle'
  );
}

function asExtensions(value: unknown): Extension[] {
  if (Array.isArray(value)) {
    return value.filter((e): e is Extension => !!e && typeof e === 'object' && !Array.isArray(e));
  }
  return value && typeof value === 'object' ? [value as Extension] : [];
}

// `extension` as received: an array's items whatever they are, a lone object as one item.
function receivedItems(value: unknown): unknown[] {
  if (Array.isArray(value)) {
    return value;
  }
  return value !== undefined && value !== null ? [value] : [];
}

export function isCoverageInformation(ext: unknown): ext is Extension {
  return !!ext && typeof ext === 'object' && (ext as Extension).url === COVERAGE_INFORMATION_URL;
}

function subValue(ext: Extension, url: string): Extension | undefined {
  return asExtensions(ext.extension).find((e) => e.url === url);
}

/** The Coverage reference an assertion is about, if readable. */
export function coverageOf(ext: Extension): string | undefined {
  const ref: unknown = subValue(ext, 'coverage')?.valueReference?.reference;
  return typeof ref === 'string' ? ref : undefined;
}

/** The covered / pa-needed / doc-needed codes of an assertion. */
export function readOutcome(ext: Extension): CoverageOutcome {
  const code = (url: string): string | undefined => {
    const v: unknown = subValue(ext, url)?.valueCode;
    return typeof v === 'string' ? v : undefined;
  };
  const outcome: CoverageOutcome = { covered: code('covered') ?? '' };
  const pa = code('pa-needed');
  const doc = code('doc-needed');
  if (pa !== undefined) {
    outcome.paNeeded = pa;
  }
  if (doc !== undefined) {
    outcome.docNeeded = doc;
  }
  return outcome;
}

function sameOutcome(a: CoverageOutcome, b: CoverageOutcome): boolean {
  return a.covered === b.covered && a.paNeeded === b.paNeeded && a.docNeeded === b.docNeeded;
}

/** The coverage-assertion-id of an assertion, if readable. */
export function assertionIdOf(ext: Extension): string | undefined {
  const id: unknown = subValue(ext, 'coverage-assertion-id')?.valueString;
  return typeof id === 'string' ? id : undefined;
}

/**
 * True when the order as received already carries an assertion for `coverage` with the same outcome, and, when
 * `assertionId` is given (the id kept in the store), with that id: only then is it our current assertion.
 */
export function alreadyAsserted(
  order: MedicationRequest,
  coverage: string,
  outcome: CoverageOutcome,
  assertionId?: string
): boolean {
  return asExtensions(order.extension)
    .filter(isCoverageInformation)
    .some(
      (e) =>
        coverageOf(e) === coverage &&
        sameOutcome(readOutcome(e), outcome) &&
        (assertionId === undefined || assertionIdOf(e) === assertionId)
    );
}

/**
 * A deep copy of the order with `ext` replacing any coverage-information for the same Coverage (assertions for
 * other Coverages and every other extension are kept, in place).
 */
export function withCoverageInformation(order: MedicationRequest, ext: Extension): MedicationRequest {
  const copy = cloneJson(order);
  const coverage = coverageOf(ext);
  // Every other item is kept as received, even one that is not an Extension (the order is echoed, not repaired).
  const kept = receivedItems(copy.extension).filter((e) => !(isCoverageInformation(e) && coverageOf(e) === coverage));
  copy.extension = [...(kept as Extension[]), ext];
  return copy;
}

/** A deep copy of `resource` without any coverage-information extension (an empty list is dropped). */
export function withoutCoverageInformation<T extends { extension?: Extension[] }>(resource: T): T {
  const copy = cloneJson(resource);
  if (copy.extension === undefined) {
    return copy;
  }
  const kept = receivedItems(copy.extension).filter((e) => !isCoverageInformation(e));
  if (kept.length > 0) {
    copy.extension = kept as Extension[];
  } else {
    delete copy.extension;
  }
  return copy;
}

/** The Coverage id a reference names (`Coverage/x`, `{base}/Coverage/x`, `.../_history/2` all name `x`). */
function coverageIdOf(reference: unknown): string | undefined {
  if (typeof reference !== 'string') {
    return undefined;
  }
  const m = /(?:^|\/)Coverage\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]*)?$/.exec(reference);
  return m?.[1];
}

/**
 * A copy of the order whose `insurance` references `coverage`: an entry naming the same Coverage is replaced (in
 * place; further ones naming it are dropped), otherwise the reference is added (contract section 5).
 */
export function withInsurance(order: MedicationRequest, coverage: string): MedicationRequest {
  const copy = cloneJson(order);
  const id = coverageIdOf(coverage);
  const received: unknown[] = Array.isArray(copy.insurance)
    ? copy.insurance
    : copy.insurance !== undefined && copy.insurance !== null
      ? [copy.insurance]
      : [];
  const insurance: unknown[] = [];
  let placed = false;
  for (const entry of received) {
    const names = id !== undefined && coverageIdOf((entry as Reference | undefined)?.reference) === id;
    if (!names) {
      insurance.push(entry);
    } else if (!placed) {
      insurance.push({ reference: coverage });
      placed = true;
    }
  }
  if (!placed) {
    insurance.push({ reference: coverage });
  }
  copy.insurance = insurance as Reference[];
  return copy;
}

/**
 * The order as the service hands it back to the EHR in a suggestion (contract sections 5 and 6): valid R4 (single
 * values made one-item arrays where R4 has arrays), `insurance` referencing the assertion's Coverage when there is
 * one, and no coverage-information extension.
 */
export function orderForEhr(order: MedicationRequest, coverage: string | undefined): MedicationRequest {
  const normalised = normaliseR4InPlace(cloneJson(order));
  return withoutCoverageInformation(coverage ? withInsurance(normalised, coverage) : normalised);
}

/**
 * The `update` system action for one order, or undefined when none is due: no order id, no active Coverage, or
 * the order already carries the same assertion for that Coverage. The order goes back as received, normalised to
 * R4 cardinality, with `insurance` referencing the Coverage and our assertion for it (contract section 5).
 */
export function buildCoverageSystemAction(
  service: LoadedService,
  decision: OrderDecision,
  opts: CoverageInformationOptions & { orderCount?: number }
): Action | undefined {
  if (!decision.orderRef || !decision.order.id || !decision.coverage) {
    return undefined;
  }
  const kept = opts.keptAssertion ? opts.assertionId : undefined;
  if (alreadyAsserted(decision.order, decision.coverage, outcomeFor(decision.likelihood, opts), kept)) {
    return undefined;
  }
  const ext = buildCoverageInformation(service, decision, opts);
  const order = withInsurance(normaliseR4InPlace(cloneJson(decision.order)), decision.coverage);
  const which = (opts.orderCount ?? 1) > 1 ? ` (draft order ${decision.orderIndex + 1})` : '';
  return {
    type: 'update',
    description: `Record ${payerAttributive(service)} coverage information on this ${DRUG_NAME_LONG} order${which}`,
    // Empty values (invalid FHIR JSON, forbidden by CDS Hooks) are left out.
    resource: pruneEmpty(withCoverageInformation(order, ext)),
  };
}
