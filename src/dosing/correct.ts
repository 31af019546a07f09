// The corrected order (contract section 6, correction card): the order as received, deep-copied, with every
// correction applied and no coverage-information extension. Doses are written in UCUM ug/d; a step-up becomes one
// instruction per band in the bounds form the order used; the quantity and supply duration are rewritten only when
// they are wrong; `authoredOn` and everything else are kept.
import type { Decimal } from 'decimal.js';
import type { Dosage, DosageDoseAndRate, Duration, MedicationRequest, Quantity } from 'fhir/r4';
import type { BoundsForm } from './read-order';
import { cloneJson } from './json';
import { dateOfDay } from './read-order';
import { UCUM_SYSTEM } from './units';

export const COVERAGE_INFORMATION_URL =
  'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';

export interface DoseBandCorrection {
  days: [number, number];
  mcgPerDay: Decimal;
}

export type DoseCorrection =
  /** Replace the dose-bearing instructions by one per band, modelled on the instruction at `templateIndex`. */
  | {
      mode: 'rebuild';
      bands: DoseBandCorrection[];
      boundsForm: BoundsForm;
      plannedStart: string;
      templateIndex: number;
    }
  /** Rewrite the dose of the instructions at these positions (position in `dosageInstruction` to mcg/day). */
  | { mode: 'in-place'; doses: Map<number, Decimal> };

export interface CorrectionPlan {
  doses?: DoseCorrection;
  /** Rewrite `dispenseRequest.quantity` to this many `{vial}`. */
  quantityVials?: number;
  /** Rewrite `dispenseRequest.expectedSupplyDuration` to this many days. */
  supplyDays?: number;
}

/** A daily dose as a UCUM `ug/d` quantity. */
export function dailyDoseQuantity(mcgPerDay: Decimal): Quantity {
  return { value: Number(mcgPerDay.toFixed()), unit: 'ug/d', system: UCUM_SYSTEM, code: 'ug/d' };
}

/** A whole number of days as a UCUM `d` duration. */
export function daysDuration(days: number): Duration {
  return { value: days, unit: 'd', system: UCUM_SYSTEM, code: 'd' };
}

/**
 * The order with every planned correction applied (the input is not modified).
 * @param order - the order as received
 * @param plan - what to correct
 */
export function applyCorrections(order: MedicationRequest, plan: CorrectionPlan): MedicationRequest {
  const corrected = cloneJson(order);
  removeCoverageInformation(corrected);
  if (plan.doses?.mode === 'in-place') {
    const instructions: unknown = corrected.dosageInstruction;
    if (Array.isArray(instructions)) {
      for (const [index, mcg] of plan.doses.doses) {
        const instruction: unknown = instructions[index];
        if (instruction && typeof instruction === 'object') {
          setDose(instruction, mcg);
        }
      }
    }
  } else if (plan.doses?.mode === 'rebuild') {
    corrected.dosageInstruction = rebuildInstructions(corrected, plan.doses);
  }
  if (plan.quantityVials !== undefined || plan.supplyDays !== undefined) {
    const existing: unknown = corrected.dispenseRequest;
    const dispense = (existing && typeof existing === 'object' ? existing : {}) as NonNullable<
      MedicationRequest['dispenseRequest']
    >;
    if (plan.quantityVials !== undefined) {
      dispense.quantity = { value: plan.quantityVials, unit: '{vial}', system: UCUM_SYSTEM, code: '{vial}' };
    }
    if (plan.supplyDays !== undefined) {
      dispense.expectedSupplyDuration = daysDuration(plan.supplyDays);
    }
    corrected.dispenseRequest = dispense;
  }
  return corrected;
}

/** Removes every coverage-information extension from the top level of the resource. */
export function removeCoverageInformation(resource: MedicationRequest): void {
  const extensions: unknown = resource.extension;
  if (!Array.isArray(extensions)) {
    return;
  }
  const kept = extensions.filter(
    (e) => !(e && typeof e === 'object' && (e as { url?: unknown }).url === COVERAGE_INFORMATION_URL)
  ) as NonNullable<MedicationRequest['extension']>;
  if (kept.length > 0) {
    resource.extension = kept;
  } else {
    delete resource.extension;
  }
}

function rebuildInstructions(order: MedicationRequest, plan: Extract<DoseCorrection, { mode: 'rebuild' }>): Dosage[] {
  const originals: unknown[] = Array.isArray(order.dosageInstruction) ? order.dosageInstruction : [];
  const template = originals[plan.templateIndex];
  const base: Dosage = template && typeof template === 'object' ? template : {};
  // Instructions that carry no dose (a note, say) are kept after the rebuilt ones.
  const doseless = originals.filter(
    (d): d is Dosage =>
      !!d && typeof d === 'object' && !(Array.isArray((d as Dosage).doseAndRate) && (d as Dosage).doseAndRate?.length)
  );
  const form: BoundsForm = plan.boundsForm === 'period' ? 'period' : 'duration';
  const rebuilt = plan.bands.map((band, i): Dosage => {
    const instruction = cloneJson(base);
    if (plan.bands.length > 1) {
      instruction.sequence = i + 1;
    } else {
      delete instruction.sequence; // one instruction: nothing to order
    }
    const timing = instruction.timing && typeof instruction.timing === 'object' ? instruction.timing : {};
    const repeat = timing.repeat && typeof timing.repeat === 'object' ? { ...timing.repeat } : {};
    delete repeat.boundsPeriod;
    delete repeat.boundsDuration;
    delete repeat.boundsRange;
    const [first, last] = band.days;
    if (form === 'period') {
      repeat.boundsPeriod = { start: dateOfDay(plan.plannedStart, first), end: dateOfDay(plan.plannedStart, last) };
    } else {
      repeat.boundsDuration = daysDuration(last - first + 1);
    }
    instruction.timing = { ...timing, repeat };
    setDose(instruction, band.mcgPerDay);
    return instruction;
  });
  return [...rebuilt, ...doseless];
}

// Writes `mcgPerDay` as the instruction's one dose (ug/d). The dose entry keeps its other fields (`type`, a rate);
// other dose entries and the free text, which would contradict the new dose, are dropped; rate-only entries stay.
function setDose(instruction: Dosage, mcgPerDay: Decimal): void {
  const entries: unknown = instruction.doseAndRate;
  const list = (Array.isArray(entries) ? (entries as unknown[]) : []).filter(
    (e): e is DosageDoseAndRate => !!e && typeof e === 'object'
  );
  const hasDose = (e: DosageDoseAndRate): boolean => !!e.doseQuantity || !!e.doseRange;
  const current = list.find((e) => !!e.doseQuantity) ?? list.find(hasDose);
  const replaced: DosageDoseAndRate = { ...(current ?? {}), doseQuantity: dailyDoseQuantity(mcgPerDay) };
  delete replaced.doseRange;
  const others = list.filter((e) => e !== current && !hasDose(e));
  instruction.doseAndRate = current
    ? list.flatMap((e) => (e === current ? [replaced] : others.includes(e) ? [e] : []))
    : [replaced, ...others];
  delete instruction.text;
}
