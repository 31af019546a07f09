// The latest weight, height or charted BSA at the planned start (contract section 4 dating rules; data profile
// section 2). Dated by effective[x] (a dateTime, or a Period's start), else `issued`; only results on or before the
// planned start count; entered-in-error and cancelled never count; values on the latest date that disagree (or
// cannot be read) make the fact unknown.
import type { Decimal } from 'decimal.js';
import type { Observation } from 'fhir/r4';
import { dateOnly } from './dates';
import { describeQuantity, quantityIn } from './units';

export interface Measure {
  /** In the target unit, exact. */
  value: Decimal;
  /** YYYY-MM-DD. */
  date: string;
  /** The value as charted (value and unit), for the arithmetic. */
  charted: string;
  /** `Observation/<id>` when the result has an id. */
  ref?: string;
}

export type MeasureResult =
  | { status: 'none' }
  | { status: 'unknown'; date: string; reason: 'disagree' | 'unreadable' }
  | { status: 'found'; measure: Measure };

/** The date an Observation counts at, or undefined when it has none. */
export function observationDate(obs: Observation): string | undefined {
  const period: unknown = obs.effectivePeriod;
  const periodStart = period && typeof period === 'object' ? (period as { start?: unknown }).start : undefined;
  return (
    dateOnly(obs.effectiveDateTime) ?? dateOnly(periodStart) ?? dateOnly(obs.effectiveInstant) ?? dateOnly(obs.issued)
  );
}

/**
 * The latest result of one fact dated on or before `onOrBefore`.
 * @param observations - results of the fact (already selected by code)
 * @param targetUnit - the UCUM unit the value is wanted in (`kg`, `cm`, `m2`)
 * @param onOrBefore - the planned start, YYYY-MM-DD
 * @param synonyms - the policy's unit synonym list
 */
export function latestMeasure(
  observations: readonly Observation[] | undefined,
  targetUnit: string,
  onOrBefore: string,
  synonyms: Readonly<Record<string, string>>
): MeasureResult {
  const dated: Array<{ obs: Observation; date: string }> = [];
  const list: unknown = observations;
  for (const item of Array.isArray(list) ? (list as unknown[]) : []) {
    if (!item || typeof item !== 'object') {
      continue;
    }
    const obs = item as Observation;
    if (obs.status === 'entered-in-error' || obs.status === 'cancelled') {
      continue;
    }
    if (!obs.valueQuantity || typeof obs.valueQuantity !== 'object') {
      continue;
    }
    const date = observationDate(obs);
    if (date !== undefined && date <= onOrBefore) {
      dated.push({ obs, date });
    }
  }
  if (dated.length === 0) {
    return { status: 'none' };
  }
  const latestDate = dated.reduce((max, d) => (d.date > max ? d.date : max), dated[0]?.date ?? '');
  const onLatest = dated.filter((d) => d.date === latestDate);
  let chosen: Measure | undefined;
  for (const { obs } of onLatest) {
    const value = quantityIn(obs.valueQuantity, targetUnit, synonyms);
    if (!value || value.lte(0)) {
      return { status: 'unknown', date: latestDate, reason: 'unreadable' };
    }
    if (chosen && !chosen.value.eq(value)) {
      return { status: 'unknown', date: latestDate, reason: 'disagree' };
    }
    if (!chosen) {
      chosen = { value, date: latestDate, charted: describeQuantity(obs.valueQuantity) };
      if (typeof obs.id === 'string' && obs.id !== '') {
        chosen.ref = `Observation/${obs.id}`;
      }
    }
  }
  return chosen ? { status: 'found', measure: chosen } : { status: 'none' };
}
