// A reusable checker of every response we send (contract sections 3, 5 and 6; checklist 1.5 and 2.2-2.5):
// run it over each fixture response. It collects every violation and throws once, listing them all.
import type { HookRequest, CdsResponse } from '../src/hooks/types';
import type { LoadedService } from '../src/policy/types';
import { policyPageAnchors } from '../src/cards/policy-page';
import { renderMarkdown } from './helpers/markdown-renderers';

const CRD_TEMP = 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp';
const CI_URL = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';
const TOPICS = new Set(['coverage-info', 'limits']);
const INDICATORS = new Set(['info', 'warning', 'critical']);
const LIKELIHOODS = new Set(['likely', 'needs-documentation', 'unlikely', 'not-covered']);
const STATUSES = new Set(['met', 'not-met', 'unknown']);
const DOC_KINDS = new Set(['unknown-criterion', 'attestation', 'submit-with-request']);
const COVERED = new Set(['covered', 'not-covered', 'conditional']);
const PA_NEEDED = new Set(['no-auth', 'auth-needed', 'satisfied', 'performpa', 'conditional']);
const DOC_NEEDED = new Set(['no-doc', 'clinical', 'admin', 'both', 'conditional']);
const DETAIL_VALUES = ['valueBoolean', 'valueString', 'valueQuantity', 'valuePeriod'];
const UCUM = 'http://unitsofmeasure.org';
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** Contract section 6: cards sorted by kind (coverage, then correction and dose-check, then documentation). */
const KIND_RANK: Record<string, number> = { coverage: 0, limits: 1, documentation: 2 };

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function isText(v: unknown): v is string {
  return typeof v === 'string' && v.trim() !== '';
}

/** A value for a message (JSON, so objects do not print as [object Object]). */
function show(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? 'undefined');
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

// The walks below are iterative: a response may echo an order nested thousands of levels deep.

interface Walk {
  value: unknown;
  parent?: Walk;
  key?: string;
  /** Inside a `_`-prefixed array: `null` items are legal. */
  nullItemsAllowed: boolean;
}

function pathOf(w: Walk): string {
  const keys: string[] = [];
  for (let at: Walk | undefined = w; at?.parent; at = at.parent) {
    keys.push(at.key ?? '');
  }
  return keys.reverse().reduce((path, k) => (/^\d+$/.test(k) ? `${path}[${k}]` : path ? `${path}.${k}` : k), '');
}

/**
 * Walks any JSON value and reports every null, "", [] and {} (the one allowed empty value is `cards: []`; inside
 * FHIR's `_`-prefixed primitive-extension arrays a `null` item is legal).
 */
function findEmptyValues(value: unknown, out: string[]): void {
  const stack: Walk[] = [{ value, nullItemsAllowed: false }];
  while (stack.length > 0) {
    const w = stack.pop() as Walk;
    const v = w.value;
    if (v === null) {
      out.push(`${pathOf(w)} is null`);
    } else if (v === '') {
      out.push(`${pathOf(w)} is an empty string`);
    } else if (Array.isArray(v)) {
      if (v.length === 0 && pathOf(w) !== 'cards') {
        out.push(`${pathOf(w)} is an empty array`);
      }
      for (let i = v.length - 1; i >= 0; i--) {
        if (!(v[i] === null && w.nullItemsAllowed)) {
          stack.push({ value: v[i], parent: w, key: String(i), nullItemsAllowed: false });
        }
      }
    } else if (typeof v === 'object') {
      const entries = Object.entries(v as Json);
      if (entries.length === 0) {
        out.push(`${pathOf(w)} is an empty object`);
      }
      for (const [k, item] of entries.reverse()) {
        if (item !== undefined) {
          stack.push({ value: item, parent: w, key: k, nullItemsAllowed: k.startsWith('_') });
        }
      }
    }
  }
}

function isEmptyValue(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    v === '' ||
    (Array.isArray(v) && v.length === 0) ||
    (isObject(v) && Object.keys(v).length === 0)
  );
}

/** A draft order as it may be echoed: its empty values (invalid FHIR JSON) left out. */
function withoutEmptyValues(value: unknown): unknown {
  interface Frame {
    entries: Array<[string, unknown]>;
    next: number;
    out: Json | unknown[];
    nullItemsAllowed: boolean;
    parent?: Frame;
    key: string;
  }
  if (typeof value !== 'object' || value === null) {
    return value;
  }
  const frame = (v: object, nullItemsAllowed: boolean, parent: Frame | undefined, key: string): Frame => ({
    entries: Array.isArray(v) ? v.map((x, i): [string, unknown] => [String(i), x]) : Object.entries(v),
    next: 0,
    out: Array.isArray(v) ? [] : {},
    nullItemsAllowed,
    ...(parent ? { parent } : {}),
    key,
  });
  const put = (f: Frame, k: string, v: unknown): void => {
    if (Array.isArray(f.out)) {
      f.out.push(v);
    } else {
      f.out[k] = v;
    }
  };
  const root = frame(value, false, undefined, '');
  const stack: Frame[] = [root];
  while (stack.length > 0) {
    const f = stack[stack.length - 1] as Frame;
    const entry = f.entries[f.next];
    if (!entry) {
      stack.pop();
      if (f.parent && !isEmptyValue(f.out)) {
        put(f.parent, f.key, f.out);
      }
      continue;
    }
    f.next += 1;
    const [k, v] = entry;
    const inArray = Array.isArray(f.out);
    if (inArray && v === null && f.nullItemsAllowed) {
      put(f, k, null);
    } else if (typeof v === 'object' && v !== null) {
      stack.push(frame(v, !inArray && k.startsWith('_'), f, k));
    } else if (!isEmptyValue(v)) {
      put(f, k, v);
    }
  }
  return root.out;
}

/**
 * Same JSON content (member order ignored), compared iteratively. With `arraysOfOne`, a single value equals a
 * one-item array holding it (the R4 normalisation of an echoed order changes nothing else).
 */
function sameContent(a: unknown, b: unknown, arraysOfOne = false): boolean {
  const stack: Array<[unknown, unknown]> = [[a, b]];
  while (stack.length > 0) {
    let [x, y] = stack.pop() as [unknown, unknown];
    if (arraysOfOne && Array.isArray(x) !== Array.isArray(y)) {
      if (Array.isArray(x) && x.length === 1) {
        x = x[0];
      } else if (Array.isArray(y) && y.length === 1) {
        y = y[0];
      }
    }
    if (x === y) {
      continue;
    }
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) {
      return false;
    }
    if (Array.isArray(x) !== Array.isArray(y)) {
      return false;
    }
    if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length) {
        return false;
      }
      x.forEach((v, i) => stack.push([v, y[i]]));
      continue;
    }
    const xs = x as Json;
    const ys = y as Json;
    const kx = Object.keys(xs).filter((k) => xs[k] !== undefined);
    const ky = Object.keys(ys).filter((k) => ys[k] !== undefined);
    if (kx.length !== ky.length || kx.some((k) => ys[k] === undefined)) {
      return false;
    }
    kx.forEach((k) => stack.push([xs[k], ys[k]]));
  }
  return true;
}

function draftOrders(request: HookRequest): Map<string, Json> {
  const map = new Map<string, Json>();
  for (const entry of list(request.context?.draftOrders?.entry)) {
    const r = isObject(entry) ? entry.resource : undefined;
    if (isObject(r) && isText(r.resourceType) && isText(r.id)) {
      map.set(`${r.resourceType}/${r.id}`, withoutEmptyValues(r) as Json);
    }
  }
  return map;
}

function withoutCoverageInformation(resource: Json): Json {
  const copy = { ...resource };
  // A malformed `extension` (a lone value rather than an array) is echoed as a one-item array.
  const items = Array.isArray(copy.extension) ? copy.extension : copy.extension === undefined ? [] : [copy.extension];
  const kept = items.filter((e) => !(isObject(e) && e.url === CI_URL));
  if (kept.length > 0) {
    copy.extension = kept;
  } else {
    delete copy.extension;
  }
  return copy;
}

function coverageInformations(resource: Json): Json[] {
  return list(resource.extension).filter((e): e is Json => isObject(e) && e.url === CI_URL);
}

/** The rules of one coverage-information extension (2.0.1 cardinalities, crd-ci-q1, crd-ci-q2, contract 5). */
function checkCoverageInformation(ext: Json, where: string, out: string[]): void {
  const subs = list(ext.extension).filter(isObject);
  const named = (url: string): Json[] => subs.filter((s) => s.url === url);
  const one = (url: string, required: boolean): Json | undefined => {
    const found = named(url);
    if (found.length > 1) {
      out.push(`${where}: more than one "${url}"`);
    }
    if (required && found.length === 0) {
      out.push(`${where}: "${url}" is missing`);
    }
    return found[0];
  };
  const coverage = one('coverage', true);
  if (coverage && !(isObject(coverage.valueReference) && isText(coverage.valueReference.reference))) {
    out.push(`${where}: "coverage" has no valueReference.reference`);
  }
  const covered = one('covered', true)?.valueCode;
  if (covered !== undefined && !COVERED.has(covered as string)) {
    out.push(`${where}: "covered" has an invalid code ${show(covered)}`);
  }
  const pa = one('pa-needed', false)?.valueCode;
  if (pa !== undefined && !PA_NEEDED.has(pa as string)) {
    out.push(`${where}: "pa-needed" has an invalid code ${show(pa)}`);
  }
  const doc = one('doc-needed', false)?.valueCode;
  if (doc !== undefined && !DOC_NEEDED.has(doc as string)) {
    out.push(`${where}: "doc-needed" has an invalid code ${show(doc)}`);
  }
  const date = one('date', true)?.valueDate;
  if (date !== undefined && !(typeof date === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(date))) {
    out.push(`${where}: "date" is not a valueDate YYYY-MM-DD`);
  }
  const id = one('coverage-assertion-id', true);
  if (id && !isText(id.valueString)) {
    out.push(`${where}: "coverage-assertion-id" has no valueString`);
  }
  for (const b of named('billingCode')) {
    if (!(isObject(b.valueCoding) && isText(b.valueCoding.system) && isText(b.valueCoding.code))) {
      out.push(`${where}: "billingCode" needs a valueCoding with system and code`);
    }
  }
  for (const r of named('reason')) {
    const cc = r.valueCodeableConcept;
    if (!(isObject(cc) && (isText(cc.text) || list(cc.coding).length > 0))) {
      out.push(`${where}: "reason" needs a valueCodeableConcept with text or a coding`);
    }
  }
  const questionnaires = [...named('questionnaire'), ...named('response')];
  if (questionnaires.length > 0 && (doc === undefined || doc === 'no-doc')) {
    out.push(`${where}: crd-ci-q1: questionnaire without doc-needed`);
  }
  for (const q of named('questionnaire')) {
    if (!isText(q.valueCanonical)) {
      out.push(`${where}: "questionnaire" has no valueCanonical`);
    }
  }
  if (covered === 'not-covered') {
    for (const url of ['pa-needed', 'doc-needed', 'detail', 'questionnaire']) {
      if (named(url).length > 0) {
        out.push(`${where}: not-covered carries "${url}"`);
      }
    }
  } else if (covered !== undefined && pa === undefined) {
    out.push(`${where}: crd-ci-q2: "${show(covered)}" without pa-needed`);
  }
  const detailCodes: string[] = [];
  named('detail').forEach((d, i) => {
    const parts = list(d.extension).filter(isObject);
    const code = parts.filter((p) => p.url === 'code');
    const value = parts.filter((p) => p.url === 'value');
    const qualification = parts.filter((p) => p.url === 'qualification');
    if (code.length !== 1 || !isObject(code[0]?.valueCodeableConcept)) {
      out.push(`${where}: detail[${i}] needs exactly one "code" valueCodeableConcept`);
    }
    if (value.length !== 1 || !DETAIL_VALUES.some((k) => value[0]?.[k] !== undefined)) {
      out.push(`${where}: detail[${i}] needs exactly one "value" (boolean, string, SimpleQuantity or Period)`);
    }
    if (qualification.length > 1 || (qualification[0] && !isText(qualification[0].valueString))) {
      out.push(`${where}: detail[${i}] "qualification" must be one valueString`);
    }
    // Contract section 5: detail codes come from the CRD temporary code system.
    const concept = code[0]?.valueCodeableConcept;
    const coding = isObject(concept) ? list(concept.coding).filter(isObject) : [];
    const crd = coding.find((c) => c.system === CRD_TEMP && isText(c.code));
    if (!crd) {
      out.push(`${where}: detail[${i}] "code" needs a coding from ${CRD_TEMP}`);
      return;
    }
    detailCodes.push(crd.code as string);
    const v = value[0];
    if (crd.code === 'allowed-quantity') {
      const q = v?.valueQuantity;
      if (!(isObject(q) && typeof q.value === 'number' && q.code === '{vial}' && q.system === UCUM)) {
        out.push(`${where}: detail[${i}] allowed-quantity must be a valueQuantity in UCUM {vial}`);
      }
      if (qualification[0]?.valueString !== 'per cycle') {
        out.push(`${where}: detail[${i}] allowed-quantity must be qualified "per cycle"`);
      }
    }
    if (crd.code === 'allowed-period') {
      const period = v?.valuePeriod;
      const start = isObject(period) ? period.start : undefined;
      const end = isObject(period) ? period.end : undefined;
      if (!(isText(start) && isText(end) && DATE.test(start) && DATE.test(end) && start <= end)) {
        out.push(`${where}: detail[${i}] allowed-period must be a valuePeriod with start <= end (dates)`);
      }
    }
  });
  // Contract section 5: allowed-quantity on every covered assertion; no detail twice.
  if (covered !== undefined && covered !== 'not-covered' && !detailCodes.includes('allowed-quantity')) {
    out.push(`${where}: a covered assertion needs an allowed-quantity detail`);
  }
  for (const code of new Set(detailCodes)) {
    if (detailCodes.filter((c) => c === code).length > 1) {
      out.push(`${where}: more than one "${code}" detail`);
    }
  }
}

function checkAction(
  action: unknown,
  where: string,
  orders: Map<string, Json>,
  out: string[],
  opts: { system: boolean }
): void {
  if (!isObject(action)) {
    out.push(`${where} is not an object`);
    return;
  }
  if (!['create', 'update', 'delete'].includes(action.type as string)) {
    out.push(`${where}: invalid type ${show(action.type)}`);
  }
  if (!isText(action.description)) {
    out.push(`${where}: description is required`);
  }
  if ((action.type === 'create' || action.type === 'update') && !isObject(action.resource)) {
    out.push(`${where}: a ${show(action.type)} needs a resource`);
    return;
  }
  if (opts.system && action.type !== 'update') {
    out.push(`${where}: a system action must be an update`);
  }
  if (action.type !== 'update' || !isObject(action.resource)) {
    return;
  }
  const resource = action.resource;
  const key = `${show(resource.resourceType)}/${show(resource.id)}`;
  const draft = orders.get(key);
  if (!draft) {
    out.push(`${where}: update of ${key}, which is not a draft order of the request`);
    return;
  }
  // An update carries the resource whole: every top-level element of the draft is still there.
  for (const k of Object.keys(draft)) {
    if (k !== 'extension' && k !== 'meta' && k !== 'text' && resource[k] === undefined) {
      out.push(`${where}: update of ${key} drops "${k}" (updates carry the entire resource)`);
    }
  }
  if (opts.system) {
    // Contract section 5: the order as received, R4 arrays where R4 has them, `insurance` naming the Coverage of
    // the assertion, our coverage-information; nothing else changed.
    const withoutInsurance = (r: Json): Json => {
      const { insurance: _insurance, ...rest } = withoutCoverageInformation(r);
      return rest;
    };
    if (!sameContent(withoutInsurance(resource), withoutInsurance(draft), true)) {
      out.push(`${where}: ${key} differs from the draft order in more than coverage-information and insurance`);
    }
    const coverage = coverageInformations(resource)
      .map(
        (e) =>
          list(e.extension)
            .filter(isObject)
            .find((x) => x.url === 'coverage')?.valueReference
      )
      .map((r) => (isObject(r) ? r.reference : undefined))
      .filter(isText)
      .pop();
    const insurance = list(resource.insurance)
      .filter(isObject)
      .map((r) => r.reference);
    if (!Array.isArray(resource.insurance) || (coverage !== undefined && !insurance.includes(coverage))) {
      out.push(`${where}: ${key} must carry insurance referencing ${show(coverage)} (an array)`);
    }
    const before = coverageInformations(draft);
    const added = coverageInformations(resource).filter((e) => !before.some((b) => sameContent(b, e)));
    if (added.length === 0) {
      out.push(`${where}: ${key} carries no new coverage-information (nothing new: no update is sent)`);
    }
    added.forEach((e, i) => checkCoverageInformation(e, `${where} coverage-information[${i}]`, out));
    const coverages = coverageInformations(resource).map(
      (e) =>
        list(e.extension)
          .filter(isObject)
          .find((s) => s.url === 'coverage')?.valueReference
    );
    const refs = coverages.map((c) => (isObject(c) ? c.reference : undefined)).filter(isText);
    if (new Set(refs).size !== refs.length) {
      out.push(`${where}: ${key} carries two coverage-information extensions for the same Coverage`);
    }
  } else if (coverageInformations(resource).length > 0) {
    out.push(`${where}: a suggested update of ${key} carries coverage-information`);
  }
}

function checkAssessment(card: Json, where: string, orders: Map<string, Json>, out: string[]): void {
  const ext = isObject(card.extension) ? card.extension['coverage-assessment'] : undefined;
  if (ext === undefined) {
    return;
  }
  if (!isObject(ext)) {
    out.push(`${where}: coverage-assessment is not an object`);
    return;
  }
  if (!isText(ext.policy) || !isText(ext.policyVersion)) {
    out.push(`${where}: coverage-assessment needs policy and policyVersion`);
  }
  if (!LIKELIHOODS.has(ext.likelihood as string)) {
    out.push(`${where}: coverage-assessment has an invalid likelihood ${show(ext.likelihood)}`);
  }
  if (ext.order !== undefined && !(isText(ext.order) && orders.has(ext.order))) {
    out.push(`${where}: coverage-assessment.order ${show(ext.order)} is not a draft order`);
  }
  list(ext.criteria).forEach((c, i) => {
    if (!(isObject(c) && isText(c.id) && isText(c.clause) && STATUSES.has(c.status as string))) {
      out.push(`${where}: coverage-assessment.criteria[${i}] needs id, clause and a valid status`);
    }
  });
  list(ext.missingDocumentation).forEach((m, i) => {
    if (!(isObject(m) && isText(m.criterion) && DOC_KINDS.has(m.kind as string) && isText(m.request))) {
      out.push(`${where}: coverage-assessment.missingDocumentation[${i}] needs criterion, kind and request`);
    }
  });
  const auth = ext.authorization;
  if (!(
    isObject(auth) &&
    ['initial', 'continuation'].includes(auth.type as string) &&
    Number.isInteger(auth.cycle) &&
    isText(auth.length)
  )) {
    out.push(`${where}: coverage-assessment.authorization needs type, cycle and length`);
  }
  if (ext.likelihood !== 'likely' && card.indicator !== 'warning') {
    out.push(`${where}: a ${show(ext.likelihood)} coverage card must be a warning`);
  }
  if (isObject(card.source) && isObject(card.source.topic) && card.source.topic.code !== 'coverage-info') {
    out.push(`${where}: a coverage card has topic coverage-info`);
  }
}

/**
 * A correction or dose-check card (contract section 6): a warning; a correction card's one suggestion is
 * recommended, under `at-most-one`, and holds a single `update` of the order (checked further by checkAction).
 */
function checkLimitsCard(card: Json, suggestions: unknown[], where: string, out: string[]): void {
  if (card.indicator !== 'warning') {
    out.push(`${where}: a limits card must be a warning`);
  }
  if (suggestions.length === 0) {
    return;
  }
  if (suggestions.length !== 1) {
    out.push(`${where}: a correction card has exactly one suggestion`);
  }
  if (card.selectionBehavior !== 'at-most-one') {
    out.push(`${where}: a correction card's selectionBehavior is at-most-one`);
  }
  const s = suggestions[0];
  if (isObject(s)) {
    if (s.isRecommended !== true) {
      out.push(`${where}: the correction suggestion must be recommended (isRecommended true)`);
    }
    const actions = list(s.actions);
    if (actions.length !== 1 || !isObject(actions[0]) || actions[0].type !== 'update') {
      out.push(`${where}: the correction suggestion holds exactly one update`);
    }
  }
}

// ---- what a clinician reads (contract section 6) ---------------------------------------------------------------

/** What the text rules need to know about the service that answered. */
export interface CardRuleContext {
  service: LoadedService;
  /** The public base URL the service was configured with (the policy link hangs off it). */
  baseUrl: string;
}

const MAX_DETAIL = 1500;
/** Resource types whose `Type/id` must never reach card text (plus every type the request holds). */
const RESOURCE_TYPES = [
  'Patient',
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'Coverage',
  'Condition',
  'Observation',
  'MedicationRequest',
  'Medication',
  'Immunization',
  'CarePlan',
  'Encounter',
  'Task',
  'Questionnaire',
];
/** Characters that mean something in markdown or HTML, and text a renderer may turn into a link. */
const MARKDOWN_SIGNIFICANT = /[<>*_[\]`|~#\\]|:\/\/|www\.|@[a-z0-9-]+\./i;

function regexEscape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function capitaliseFirst(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Every resource of the request (draft orders and prefetch, Bundles opened), iteratively. */
function requestResources(request: HookRequest): Json[] {
  const out: Json[] = [];
  const stack: unknown[] = [request.context?.draftOrders, ...Object.values(request.prefetch ?? {})];
  while (stack.length > 0) {
    const v = stack.pop();
    if (!isObject(v)) {
      continue;
    }
    if (v.resourceType === 'Bundle') {
      for (const e of list(v.entry)) {
        stack.push(isObject(e) ? e.resource : undefined);
      }
    } else if (isText(v.resourceType)) {
      out.push(v);
      list(v.contained).forEach((c) => stack.push(c));
    }
  }
  return out;
}

/** Strings of the request's resources (patient data) that would mean something in markdown if placed raw. */
function significantPatientText(resources: Json[]): string[] {
  const found = new Set<string>();
  const stack: unknown[] = [...resources];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      const t = v.trim();
      if (t.length >= 4 && MARKDOWN_SIGNIFICANT.test(t)) {
        found.add(t);
      }
    } else if (Array.isArray(v)) {
      stack.push(...v);
    } else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        // Codes, systems, references and ids are not text a card shows.
        if (!['system', 'url', 'reference', 'fullUrl', 'id', 'div'].includes(k)) {
          stack.push(x);
        }
      }
    }
  }
  return [...found];
}

/** Ids of the request's resources that are recognisably ids (not plain words). */
function resourceIds(resources: Json[]): string[] {
  return [...new Set(resources.map((r) => r.id).filter(isText))].filter((id) => id.length >= 4 && /[-.\d]/.test(id));
}

/** The summary grammar of contract section 6, from fixed phrases and the service's declared short names. */
function coverageSummaryPattern(service: LoadedService): RegExp {
  const shorts = [...service.outline.criteria.map((c) => c.short), ...service.outline.items.map((i) => i.short)].map(
    (x) => x.trim()
  );
  const short = `(?:${shorts.map(regexEscape).join('|')})`;
  const absent = shorts.filter((x) => /^no /i.test(x)).map((x) => regexEscape(x.slice(3)));
  const notMet = `(?:${short} not met${absent.length > 0 ? `|(?:${absent.join('|')}) recorded(?: \\d{4}(?:-\\d{2}){0,2})?` : ''})`;
  const names = `${short}(?:, ${short})*(?: and (?:${short}|\\d+ more))?`;
  const outcomes = [
    'likely approved with prior authorization',
    `prior authorization needs (?:documentation|\\d+ documents?(?:: ${names})?)`,
    `approval unlikely(?:: ${notMet}(?:, and \\d+ more not met)?|: \\d+ criteria not met|: no approval route is met)?`,
    `not covered(?:: over the (?:\\d+-cycle|cycle) maximum(?: for ${short})?|: the diagnosis on file is excluded by the policy|: diagnosis excluded|: ${notMet})?`,
    "no active coverage found(?:: check the patient's insurance)?",
  ];
  return new RegExp(`^Blinatumomab(?: cycle \\d+)?: (?:${outcomes.join('|')})$`);
}

/** The criteria of the best pathway as the card shows them (their short names, capitalised, at a line start). */
function pathwayCriterionNames(service: LoadedService, assessment: Json): Set<string> {
  const pathway = service.outline.pathways.find((p) => p.id === assessment.pathway);
  const auth = isObject(assessment.authorization) ? assessment.authorization : {};
  const ids = new Set([
    ...(pathway?.criteria ?? []),
    ...service.outline.universal,
    ...(auth.type === 'continuation' ? (service.outline.continuation?.criteria ?? []) : []),
  ]);
  return new Set(service.outline.criteria.filter((c) => ids.has(c.id)).map((c) => capitaliseFirst(c.short)));
}

const DOSE_REASONS = new Set(['re-escalation-after-toxicity', 'protocol-dosing', 'weight-or-bsa-verified']);
const QUANTITY_REASONS = new Set(['quantity-preparation-loss', 'quantity-exception-approved']);
const SUPPLY_REASONS = new Set(['supply-partial-cycle', 'supply-treatment-interruption', 'supply-protocol-schedule']);

/**
 * The rules of what a clinician reads (contract section 6), over every card: summaries from whole phrases (the
 * coverage card's grammar), at most 139 and 1,500 characters, the same text rendered by CommonMark and by GFM, no
 * tables, no raw HTML, no links in the text, no bare resource id, no unescaped patient text, no raw URL, the payer
 * named by its label or as "the health plan", the policy link, best-pathway criteria only on a likely card, no
 * authorization length when not covered, override reasons that fit what is corrected, Task inputs with `type.text`,
 * and `questionnaire` exactly when documentation is needed on a primary hook.
 */
export function cardTextViolations(response: unknown, request: HookRequest, ctx: CardRuleContext): string[] {
  const out: string[] = [];
  if (!isObject(response)) {
    return out;
  }
  const { service, baseUrl } = ctx;
  const resources = requestResources(request);
  const patientText = significantPatientText(resources);
  const ids = resourceIds(resources);
  const types = [...new Set([...RESOURCE_TYPES, ...resources.map((r) => r.resourceType).filter(isText)])];
  const reference = new RegExp(`\\b(?:${types.map(regexEscape).join('|')})\\/[A-Za-z0-9\\-.]{1,64}`);
  const summaryPattern = coverageSummaryPattern(service);
  const anchors = new Set(policyPageAnchors(service));
  const pageUrl = `${baseUrl.replace(/\/+$/, '')}/policies/${service.id}`;
  const likelihoodByOrder = new Map<string, string>();

  list(response.cards).forEach((c, i) => {
    const where = `cards[${i}]`;
    if (!isObject(c)) {
      return;
    }
    const summary = isText(c.summary) ? c.summary : '';
    const detail = isText(c.detail) ? c.detail : '';
    const labels = [
      ...list(c.suggestions).map((x) => (isObject(x) ? x.label : undefined)),
      ...list(c.links).map((x) => (isObject(x) ? x.label : undefined)),
      ...list(c.overrideReasons).map((x) => (isObject(x) ? x.display : undefined)),
    ].filter(isText);
    const rendered = renderMarkdown(detail);
    const texts = [summary, detail, rendered.gfmText, ...labels];

    if (/(…|\.\.\.)$/.test(summary)) {
      out.push(`${where}: the summary is cut ("${summary}")`);
    }
    if (Array.from(detail).length > MAX_DETAIL) {
      out.push(`${where}: the detail has ${Array.from(detail).length} characters (at most ${MAX_DETAIL})`);
    }
    if (rendered.tables > 0) {
      out.push(`${where}: the detail holds a markdown table`);
    }
    if (rendered.rawHtml.length > 0) {
      out.push(`${where}: the detail holds raw HTML: ${rendered.rawHtml.slice(0, 2).join(' ')}`);
    }
    if (rendered.links.length > 0) {
      out.push(`${where}: the detail renders links (autolinked or written): ${rendered.links.slice(0, 3).join(' ')}`);
    }
    if (rendered.commonmarkText !== rendered.gfmText) {
      out.push(
        `${where}: CommonMark and GFM render different text:\n  ${rendered.commonmarkText}\n  ${rendered.gfmText}`
      );
    }
    for (const t of texts) {
      const ref = reference.exec(t);
      if (ref) {
        out.push(`${where}: a bare resource reference reaches the text: ${ref[0]}`);
        break;
      }
    }
    for (const id of ids) {
      if (texts.some((t) => t.includes(id))) {
        out.push(`${where}: the resource id "${id}" reaches the text`);
      }
    }
    // Patient text placed raw in the markdown must still read as itself once rendered (else it became markup).
    for (const raw of patientText) {
      if (detail.includes(raw) && !rendered.gfmText.includes(raw.replace(/\s+/g, ' '))) {
        out.push(`${where}: patient text reaches the markdown unescaped: ${JSON.stringify(raw)}`);
      }
    }
    if ([summary, detail, ...labels].some((t) => /https?:\/\//i.test(t))) {
      out.push(`${where}: a raw URL is in the text (URLs go in links[])`);
    }
    if (/\(none\b|: none\b/i.test(detail)) {
      out.push(`${where}: evidence shown as "none"`);
    }
    // A label that names no payer may name the policy (its **Policy:** line), never the payer.
    const payerTexts = [summary, detail.replace(/^\*\*Policy:\*\*.*$/gm, ''), ...labels];
    if (!service.labelNamesPayer && payerTexts.some((t) => t.includes(service.label))) {
      out.push(
        `${where}: the text names "${service.label}" as the payer, a label that names none (say "the health plan")`
      );
    }

    const assessment = isObject(c.extension) ? c.extension['coverage-assessment'] : undefined;
    if (isObject(assessment)) {
      if (!summaryPattern.test(summary)) {
        out.push(`${where}: the coverage summary is not built from the grammar's whole phrases: "${summary}"`);
      }
      const links = list(c.links).filter(isObject);
      const link = links[0];
      const url = isObject(link) && isText(link.url) ? link.url : '';
      const anchor = url.startsWith(`${pageUrl}#`) ? url.slice(pageUrl.length + 1) : undefined;
      if (
        links.length !== 1 ||
        !isObject(link) ||
        link.label !== 'Read the policy' ||
        link.type !== 'absolute' ||
        anchor === undefined ||
        !anchors.has(anchor)
      ) {
        out.push(`${where}: a coverage card has one absolute "Read the policy" link to ${pageUrl}#<clause> (${url})`);
      }
      if (assessment.likelihood === 'likely') {
        const own = pathwayCriterionNames(service, assessment);
        // Criterion lines: `- Met: <short> (...)`, `- **Not met:** <short> (...)`, or the collapsed met line.
        const lines = detail.split('\n');
        const single = lines
          .map((line) => /^- (?:Met:|\*\*Not met:\*\*|\*\*Unknown:\*\*) (.+?)(?: \(.*)?$/.exec(line)?.[1])
          .filter(isText)
          .map(capitaliseFirst);
        const collapsed = lines.map((line) => /^- \d+ criteria met: (.+)$/.exec(line)?.[1]).filter(isText);
        for (const name of single.filter((n) => !own.has(n))) {
          out.push(`${where}: a likely card shows "${name}", a criterion of another pathway`);
        }
        for (const c of service.outline.criteria.filter((x) => !own.has(capitaliseFirst(x.short)))) {
          if (collapsed.some((l) => `, ${l}, `.includes(`, ${c.short}, `))) {
            out.push(`${where}: a likely card shows "${c.short}", a criterion of another pathway`);
          }
        }
      }
      if (assessment.likelihood === 'not-covered' && /\bauthorization (?:per cycle|\d+ weeks)/.test(detail)) {
        out.push(`${where}: a not-covered card shows an authorization length`);
      }
      if (isText(assessment.order) && isText(assessment.likelihood)) {
        likelihoodByOrder.set(assessment.order, assessment.likelihood);
      }
    }

    // Override reasons fit what the correction corrects (a suggestion label names it).
    const label = list(c.suggestions)
      .map((x) => (isObject(x) ? x.label : undefined))
      .find(isText);
    const corrected = label && /^Apply the corrected /.test(label) ? label : undefined;
    if (corrected) {
      const codes = list(c.overrideReasons)
        .map((r) => (isObject(r) ? r.code : undefined))
        .filter(isText);
      const fits = (set: Set<string>, word: string): void => {
        if (!corrected.includes(word) && codes.some((code) => set.has(code))) {
          out.push(`${where}: "${corrected}" offers ${word} override reasons`);
        }
      };
      fits(DOSE_REASONS, 'dose');
      fits(QUANTITY_REASONS, 'quantity');
      fits(SUPPLY_REASONS, 'supply duration');
    }
    for (const s of list(c.suggestions).filter(isObject)) {
      for (const a of list(s.actions).filter(isObject)) {
        const task = isObject(a.resource) && a.resource.resourceType === 'Task' ? a.resource : undefined;
        list(task?.input).forEach((input, k) => {
          const type = isObject(input) ? input.type : undefined;
          if (!(isObject(type) && isText(type.text) && list(type.coding).length > 0)) {
            out.push(`${where}: Task input[${k}] needs type.text as well as its coding`);
          }
        });
      }
    }
  });

  // `questionnaire` on the system action exactly when documentation is needed on a primary hook (whatever max-cards
  // kept); never on order-select (contract section 1).
  const primary = request.hook !== 'order-select';
  list(response.systemActions).forEach((a, i) => {
    const resource = isObject(a) && isObject(a.resource) ? a.resource : undefined;
    const key = resource ? `${show(resource.resourceType)}/${show(resource.id)}` : '';
    const likelihood = likelihoodByOrder.get(key);
    if (!resource || likelihood === undefined) {
      return;
    }
    const ours = coverageInformations(resource).pop();
    const hasQuestionnaire = list(ours?.extension).some((x) => isObject(x) && x.url === 'questionnaire');
    if (hasQuestionnaire !== (primary && likelihood === 'needs-documentation')) {
      out.push(
        `systemActions[${i}]: questionnaire ${hasQuestionnaire ? 'present' : 'absent'} on a ${likelihood} order` +
          (primary ? '' : ' (order-select)')
      );
    }
  });
  return out;
}

/**
 * Every violation of the card rules in `response` (empty when it conforms).
 * @param ctx - the service and base URL: when given, the rules of what a clinician reads apply too.
 */
export function cardRuleViolations(response: unknown, request: HookRequest, ctx?: CardRuleContext): string[] {
  const out: string[] = [];
  if (!isObject(response) || !Array.isArray(response.cards)) {
    return ['the response must be an object with a "cards" array'];
  }
  for (const k of Object.keys(response)) {
    if (k !== 'cards' && k !== 'systemActions') {
      out.push(`unexpected top-level key "${k}"`);
    }
  }
  findEmptyValues(response, out);
  const orders = draftOrders(request);
  const uuids = new Map<string, string>();
  const noteUuid = (uuid: unknown, where: string): void => {
    if (!isText(uuid)) {
      out.push(`${where}: uuid is required`);
      return;
    }
    const first = uuids.get(uuid);
    if (first) {
      out.push(`${where}: uuid ${uuid} already used by ${first}`);
    } else {
      uuids.set(uuid, where);
    }
  };

  let lastRank = 0;
  response.cards.forEach((card: unknown, i: number) => {
    const where = `cards[${i}]`;
    if (!isObject(card)) {
      out.push(`${where} is not an object`);
      return;
    }
    if (!isText(card.summary)) {
      out.push(`${where}: summary is required`);
    } else if (Array.from(card.summary).length >= 140) {
      out.push(`${where}: summary has ${Array.from(card.summary).length} characters (at most 139)`);
    }
    if (!INDICATORS.has(card.indicator as string)) {
      out.push(`${where}: invalid indicator ${show(card.indicator)}`);
    }
    const source = card.source;
    if (!isObject(source) || !isText(source.label)) {
      out.push(`${where}: source.label is required`);
    } else {
      const topic = source.topic;
      if (
        !isObject(topic) ||
        topic.system !== CRD_TEMP ||
        !TOPICS.has(topic.code as string) ||
        !isText(topic.display)
      ) {
        out.push(`${where}: source.topic must be a CRD card type (coverage-info or limits) with a display`);
      }
    }
    noteUuid(card.uuid, where);
    const suggestions = list(card.suggestions);
    if (suggestions.length > 0 && card.selectionBehavior === undefined) {
      out.push(`${where}: suggestions without selectionBehavior`);
    }
    if (suggestions.length === 0 && card.selectionBehavior !== undefined) {
      out.push(`${where}: selectionBehavior without suggestions`);
    }
    if (card.selectionBehavior !== undefined && !['at-most-one', 'any'].includes(card.selectionBehavior as string)) {
      out.push(`${where}: invalid selectionBehavior ${show(card.selectionBehavior)}`);
    }
    if (
      card.selectionBehavior === 'at-most-one' &&
      suggestions.filter((s) => isObject(s) && s.isRecommended === true).length > 1
    ) {
      out.push(`${where}: at-most-one with several recommended suggestions`);
    }
    suggestions.forEach((s, j) => {
      const sw = `${where}.suggestions[${j}]`;
      if (!isObject(s)) {
        out.push(`${sw} is not an object`);
        return;
      }
      if (!isText(s.label)) {
        out.push(`${sw}: label is required`);
      }
      noteUuid(s.uuid, sw);
      list(s.actions).forEach((a, k) => checkAction(a, `${sw}.actions[${k}]`, orders, out, { system: false }));
    });
    list(card.overrideReasons).forEach((r, j) => {
      if (!(isObject(r) && isText(r.system) && isText(r.code) && isText(r.display))) {
        out.push(`${where}.overrideReasons[${j}]: system, code and display are required`);
      }
    });
    list(card.links).forEach((l, j) => {
      if (!(isObject(l) && isText(l.label) && isText(l.url) && ['absolute', 'smart'].includes(l.type as string))) {
        out.push(`${where}.links[${j}]: label, url and type are required`);
      }
    });
    checkAssessment(card, where, orders, out);
    const isCoverageCard = isObject(card.extension) && card.extension['coverage-assessment'] !== undefined;
    const topic = isObject(source) && isObject(source.topic) ? source.topic.code : undefined;
    // Contract section 6: `critical` is not used for payment questions; dose cards are warnings.
    if (card.indicator === 'critical') {
      out.push(`${where}: the critical indicator is not used`);
    }
    if (topic === 'limits') {
      checkLimitsCard(card, suggestions, where, out);
    }
    const kind = isCoverageCard ? 'coverage' : topic === 'limits' ? 'limits' : 'documentation';
    const rank = KIND_RANK[kind] ?? 0;
    if (rank < lastRank) {
      out.push(`${where}: a ${kind} card after a card of a later kind (order: coverage, limits, documentation)`);
    }
    lastRank = Math.max(lastRank, rank);
  });

  if (response.systemActions !== undefined) {
    if (!Array.isArray(response.systemActions)) {
      out.push('systemActions must be an array');
    } else {
      const perOrder = new Set<string>();
      const assertionIds = new Set<string>();
      response.systemActions.forEach((a: unknown, i: number) => {
        const where = `systemActions[${i}]`;
        checkAction(a, where, orders, out, { system: true });
        const resource = isObject(a) && isObject(a.resource) ? a.resource : undefined;
        if (!resource) {
          return;
        }
        const key = `${show(resource.resourceType)}/${show(resource.id)}`;
        if (perOrder.has(key)) {
          out.push(`${where}: a second system action for ${key}`);
        }
        perOrder.add(key);
        const draft = orders.get(key);
        const before = draft ? coverageInformations(draft) : [];
        for (const ext of coverageInformations(resource)) {
          if (before.some((b) => sameContent(b, ext))) {
            continue;
          }
          const subs = list(ext.extension).filter(isObject);
          const id = subs.find((s) => s.url === 'coverage-assertion-id')?.valueString;
          if (isText(id)) {
            if (assertionIds.has(id)) {
              out.push(`${where}: coverage-assertion-id ${id} is not unique in the response`);
            }
            assertionIds.add(id);
          }
        }
      });
    }
  }
  if (ctx) {
    out.push(...cardTextViolations(response, request, ctx));
  }
  return out;
}

/**
 * Throws when `response` breaks any card rule (summary length, indicator, source, uuids, selectionBehavior,
 * labels, override-reason displays, empty values, whole-resource updates, coverage-information rules).
 * @param response - a response the service sent.
 * @param request - the request it answered (its draft orders are what updates may target).
 * @param ctx - the service and base URL, for the rules of what a clinician reads (contract section 6).
 */
export function assertCardRules(response: CdsResponse, request: HookRequest, ctx?: CardRuleContext): void {
  const violations = cardRuleViolations(response, request, ctx);
  if (violations.length > 0) {
    throw new Error(`Card rules violated:\n- ${violations.join('\n- ')}`);
  }
}
