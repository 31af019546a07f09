// Gathering the data of a governed call (contract section 3, "Fetching"; CDS Hooks 2.0 "Prefetch Template"):
// every declared prefetch key comes back, from the request's prefetch when it holds data, else from the FHIR
// server. Keys are fetched in parallel, each request with its own timeout, all under the call's deadline.
// A key still unobtainable answers 412 (https://cds-hooks.hl7.org/2.0/#http-status-codes), one issue per key.
import type { Bundle, FhirResource } from 'fhir/r4';
import { HttpError, type ErrorIssue } from '../errors';
import type { FhirResult, FhirSession } from '../fhir/client';
import { namesAnotherPatient } from '../fhir/patient-scope';
import { fillPrefetchTemplate } from './tokens';
import type { CallContext, HookRequest, PrefetchData } from './types';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasNextLink(bundle: Bundle): boolean {
  const links: unknown = bundle.link;
  return (
    Array.isArray(links) &&
    links.some((l: unknown) => isObject(l) && l.relation === 'next' && typeof l.url === 'string' && l.url !== '')
  );
}

/** What the request's prefetch says about one key. */
type PrefetchState =
  | { kind: 'null' }
  | { kind: 'value'; value: FhirResource }
  | { kind: 'fetch'; why: 'absent' | 'operation-outcome' | 'other-patient' };

function stateOf(prefetch: unknown, key: string, patientId: string): PrefetchState {
  if (!isObject(prefetch) || !Object.prototype.hasOwnProperty.call(prefetch, key)) {
    return { kind: 'fetch', why: 'absent' };
  }
  const value = prefetch[key];
  if (value === null) {
    return { kind: 'null' };
  }
  if (!isObject(value) || typeof value.resourceType !== 'string') {
    // Malformed values are ignored as absent (contract section 3).
    return { kind: 'fetch', why: 'absent' };
  }
  if (value.resourceType === 'OperationOutcome') {
    return { kind: 'fetch', why: 'operation-outcome' };
  }
  if (value.resourceType !== 'Bundle' && namesAnotherPatient(value, patientId)) {
    // Contract section 2: a Patient (or any single resource) naming another patient counts as absent.
    return { kind: 'fetch', why: 'other-patient' };
  }
  return { kind: 'value', value: value as unknown as FhirResource };
}

/**
 * The data without what names another patient (contract section 2, "Only this patient's data"), whether it came
 * from prefetch or from the FHIR server: Bundle entries naming another patient are left out, a single resource doing
 * so becomes null (no data). Resources naming no patient are kept. Returns how many were dropped.
 */
function keepThisPatient(data: PrefetchData, patientId: string): number {
  let dropped = 0;
  for (const [key, value] of Object.entries(data)) {
    if (value === null) {
      continue;
    }
    if (value.resourceType === 'Bundle') {
      const entries: unknown = value.entry;
      if (!Array.isArray(entries)) {
        continue;
      }
      const kept = entries.filter(
        (entry: unknown) => !namesAnotherPatient(isObject(entry) ? entry.resource : undefined, patientId)
      );
      if (kept.length !== entries.length) {
        dropped += entries.length - kept.length;
        data[key] = { ...value, entry: kept as Bundle['entry'] };
      }
    } else if (namesAnotherPatient(value, patientId)) {
      dropped += 1;
      data[key] = null;
    }
  }
  return dropped;
}

/** A template that reads one resource (`Patient/{{context.patientId}}`) rather than searching. */
function isRead(url: string): boolean {
  return /^\/?[A-Z][A-Za-z]+\/[^/?#]+$/.test(url);
}

type KeyOutcome =
  { ok: true; value: FhirResource | null; fetchedMs?: number } | { ok: false; message: string; fetchedMs?: number };

/**
 * Returns every key of the service's prefetch (contract section 3): a prefetch value is used (its `next` links
 * followed when a session exists); `null` or an empty search result means no data; an absent key, an OperationOutcome
 * value or a single resource naming another patient is fetched from the FHIR server. Whatever names another patient
 * than `context.patientId` is then dropped, from prefetch and fetched data alike, and counted in
 * `ctx.otherPatient` (contract section 2). Call only when some order is governed. The request is never
 * modified: from its prefetch, a Bundle and its `entry` list are copied, but the resources are the request's own, to
 * be read only (evaluation copies what it reads).
 *
 * @param templates - the declared prefetch templates by key (a policy's, or the routed keys of the chosen policy).
 * @param request - the validated request.
 * @param session - the FHIR session, undefined when there is no usable `fhirServer`.
 * @param ctx - the call's context: fetch timings go into `ctx.timings` (`fhir.<key>`, `fetchSlowestMs`, `fetchSumMs`).
 * @throws HttpError 412 `prefetch-unavailable`, one issue per key still unobtainable, `expression` `prefetch.<key>`.
 */
export async function gatherData(
  templates: Readonly<Record<string, string>>,
  request: HookRequest,
  session: FhirSession | undefined,
  ctx: CallContext
): Promise<PrefetchData> {
  const keys = Object.keys(templates);
  const patientId = request.context.patientId;
  let otherPatientValues = 0;
  const noServer =
    typeof request.fhirServer === 'string' && request.fhirServer.trim() !== ''
      ? 'the fhirServer is not allowed by CDS_FHIR_ALLOWLIST'
      : 'the request has no fhirServer';

  const gatherKey = async (key: string): Promise<KeyOutcome> => {
    const state = stateOf(request.prefetch, key, patientId);
    if (state.kind === 'null') {
      return { ok: true, value: null };
    }
    if (state.kind === 'value') {
      // The resources are not copied: they are only read (evaluation copies what it reads, src/policy/data.ts
      // indexCall). A Bundle and its entry list are, so that what is returned can be rearranged freely.
      const value = shallowCopy(state.value);
      if (value.resourceType !== 'Bundle' || !hasNextLink(value) || !session) {
        return { ok: true, value };
      }
      const started = Date.now();
      const result = await session.continueSearch(value);
      return settle(result, 'following the next links of the prefetched Bundle failed', Date.now() - started);
    }
    if (state.why === 'other-patient') {
      otherPatientValues += 1;
    }
    const why =
      state.why === 'operation-outcome'
        ? 'the prefetch value was an OperationOutcome and '
        : state.why === 'other-patient'
          ? 'the prefetch value names another patient and '
          : '';
    const template = templates[key] ?? '';
    const filled = fillPrefetchTemplate(template, request.context, { today: ctx.receivedDate });
    if (!filled.ok) {
      return {
        ok: false,
        message: `${why}the template still holds ${filled.unresolved.join(', ')} and cannot be fetched`,
      };
    }
    if (!session) {
      return { ok: false, message: `${why}${noServer}` };
    }
    const started = Date.now();
    const result: FhirResult<FhirResource | null> = isRead(filled.url)
      ? await session.read(filled.url.replace(/^\//, ''))
      : await session.search(filled.url);
    return settle(result, `${why}fetching failed`, Date.now() - started);
  };

  const outcomes = await Promise.all(keys.map(gatherKey));

  const data: PrefetchData = {};
  const issues: ErrorIssue[] = [];
  let slowest = 0;
  let sum = 0;
  keys.forEach((key, i) => {
    const outcome = outcomes[i] as KeyOutcome;
    if (outcome.fetchedMs !== undefined) {
      ctx.timings[`fhir.${key}`] = outcome.fetchedMs;
      slowest = Math.max(slowest, outcome.fetchedMs);
      sum += outcome.fetchedMs;
    }
    if (outcome.ok) {
      data[key] = outcome.value;
    } else {
      issues.push({
        code: 'prefetch-unavailable',
        message: `prefetch "${key}" is unavailable: ${outcome.message}`,
        expression: `prefetch.${key}`,
      });
    }
  });
  // A routed call gathers twice (the coverage key first, to choose the policy): the timings and the count of what
  // names another patient cover both.
  ctx.timings.fetchSlowestMs = Math.max(slowest, ctx.timings.fetchSlowestMs ?? 0);
  ctx.timings.fetchSumMs = sum + (ctx.timings.fetchSumMs ?? 0);
  const dropped = otherPatientValues + keepThisPatient(data, patientId);
  if (dropped > 0) {
    ctx.otherPatient = {
      resources: (ctx.otherPatient?.resources ?? 0) + dropped,
      draftOrders: ctx.otherPatient?.draftOrders ?? 0,
    };
  }
  if (issues.length > 0) {
    throw new HttpError(issues);
  }
  return data;
}

/** A Bundle with its own `entry` list (the resources shared); any other resource as it is. */
function shallowCopy(value: FhirResource): FhirResource {
  if (value.resourceType !== 'Bundle') {
    return value;
  }
  return Array.isArray(value.entry) ? { ...value, entry: [...value.entry] } : { ...value };
}

function settle(result: FhirResult<FhirResource | null>, context: string, ms: number): KeyOutcome {
  if (result.ok) {
    return { ok: true, value: result.value, fetchedMs: ms };
  }
  return { ok: false, message: `${context}: ${result.message}`, fetchedMs: ms };
}
