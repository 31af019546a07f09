// Runs the dose-check vectors of dosing-vectors.ts (one jest test per vector, fhirpath.js style), and for every
// vector that corrects the order, applies the correction and checks that a second assessment corrects nothing.
import type { Dosage, MedicationRequest } from 'fhir/r4';
import { assessDose } from '../src/dosing/assess';
import { plannedStartOf } from '../src/dosing/read-order';
import type { DoseAssessment, DoseInput } from '../src/dosing/types';
import { dosingRules } from './helpers/dosing-rules';
import type { DoseVector } from './dosing-vectors';
import { height, START, vectors, weight } from './dosing-vectors';

function inputFor(vector: DoseVector, order: MedicationRequest): DoseInput {
  const scheduleId = vector.schedule === undefined ? 'relapsed-refractory' : vector.schedule;
  const input: DoseInput = {
    order,
    plannedStart: plannedStartOf(order, START),
    cycle: vector.cycle ?? 1,
    indicationMet: vector.indicationMet ?? true,
    rules: dosingRules,
    patient: {
      birthDate: vector.birthDate ?? '1980-01-01',
      weights: vector.weights ?? [weight(70)],
      heights: vector.heights ?? [height(170)],
      bsas: vector.bsas ?? [],
    },
  };
  if (scheduleId !== null) {
    input.schedule = dosingRules.schedules[scheduleId];
  }
  return input;
}

function correctedDoses(
  resource: MedicationRequest
): Array<{ mcg: number; period?: [string, string]; days?: number; sequence?: number }> {
  return (resource.dosageInstruction ?? []).map((d: Dosage) => {
    const q = d.doseAndRate?.[0]?.doseQuantity;
    expect(q).toEqual({ value: q?.value, unit: 'ug/d', system: 'http://unitsofmeasure.org', code: 'ug/d' });
    const out: { mcg: number; period?: [string, string]; days?: number; sequence?: number } = { mcg: q?.value ?? NaN };
    const repeat = d.timing?.repeat;
    if (repeat?.boundsPeriod) {
      out.period = [repeat.boundsPeriod.start ?? '', repeat.boundsPeriod.end ?? ''];
    }
    if (repeat?.boundsDuration) {
      expect(repeat.boundsDuration.code).toBe('d');
      out.days = repeat.boundsDuration.value;
    }
    if (d.sequence !== undefined) {
      out.sequence = d.sequence;
    }
    return out;
  });
}

function check(vector: DoseVector, result: DoseAssessment): void {
  const e = vector.expect;
  expect(result.correction !== undefined).toBe(e.correction);
  expect(result.findings.length > 0).toBe(e.correction);
  if (e.basis) {
    expect(result.expected?.basis).toBe(e.basis);
  }
  if (e.expected === null) {
    expect(result.expected).toBeUndefined();
  } else if (e.expected) {
    expect(result.expected?.bands.map((b) => b.mcgPerDay)).toEqual(e.expected);
  }
  if (e.prompts) {
    expect(result.prompts.map((p) => p.kind).sort()).toEqual([...e.prompts].sort());
  }
  for (const text of e.findings ?? []) {
    expect(result.findings.join('\n')).toContain(text);
  }
  for (const text of e.arithmetic ?? []) {
    expect(result.arithmetic.join('\n')).toContain(text);
  }
  if (e.allowedPeriod) {
    expect(result.allowedPeriod).toEqual(e.allowedPeriod);
  } else {
    expect(result.allowedPeriod).toBeUndefined();
  }
  for (const p of result.prompts) {
    expect(p.text.length).toBeGreaterThan(10);
  }
  const correction = result.correction;
  if (!correction) {
    return;
  }
  expect(correction.summary.length).toBeLessThan(140);
  for (const text of e.summary ?? []) {
    expect(correction.summary).toContain(text);
  }
  const resource = correction.resource;
  expect(resource.id).toBe(vector.order.id);
  expect(resource.authoredOn).toBe(vector.order.authoredOn);
  expect(resource.status).toBe(vector.order.status);
  expect(JSON.stringify(resource.extension ?? [])).not.toContain('ext-coverage-information');
  if (e.correctedDoses) {
    expect(correctedDoses(resource)).toEqual(e.correctedDoses);
  }
  if (e.correctedQuantity !== undefined) {
    expect(resource.dispenseRequest?.quantity).toEqual({
      value: e.correctedQuantity,
      unit: '{vial}',
      system: 'http://unitsofmeasure.org',
      code: '{vial}',
    });
  }
  if (e.quantityUntouched) {
    expect(resource.dispenseRequest?.quantity).toEqual(vector.order.dispenseRequest?.quantity);
  }
  if (e.correctedSupply !== undefined) {
    expect(resource.dispenseRequest?.expectedSupplyDuration).toEqual({
      value: e.correctedSupply,
      unit: 'd',
      system: 'http://unitsofmeasure.org',
      code: 'd',
    });
  }
}

describe('dose-check vectors', () => {
  test.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, vector) => {
    const before = JSON.stringify(vector.order);
    const result = assessDose(inputFor(vector, vector.order));
    expect(JSON.stringify(vector.order)).toBe(before); // the order as received is never modified
    check(vector, result);
  });

  const correcting = vectors.filter((v) => v.expect.correction);
  test.each(correcting.map((v) => [v.name, v] as const))('idempotent: %s', (_name, vector) => {
    const first = assessDose(inputFor(vector, vector.order));
    const corrected = first.correction?.resource;
    expect(corrected).toBeDefined();
    const again = assessDose(inputFor(vector, corrected as MedicationRequest));
    expect(again.findings).toEqual([]);
    expect(again.correction).toBeUndefined();
    expect(again.allowedPeriod).toBeUndefined();
    // What a person must still do stays asked (a stale weight remains stale after the correction).
    expect(again.prompts.map((p) => p.kind)).toEqual(first.prompts.map((p) => p.kind));
  });

  test('every boundary the dosing issue names has a vector', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(60);
    expect(correcting.length).toBeGreaterThanOrEqual(25);
  });
});
