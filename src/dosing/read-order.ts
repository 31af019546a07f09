// Reading what a blinatumomab order asks for (data profile section 1; contract section 7): the daily dose of each
// dosage instruction and the cycle days it spans, the dispense quantity and the supply duration.
import type { Decimal } from 'decimal.js';
import type { Dosage, MedicationRequest } from 'fhir/r4';
import { addDays, dateOnly, daysBetween } from './dates';
import type { QuantityLike } from './units';
import { decimalOf, describeQuantity, quantityIn, readUnit, toQuantityIn } from './units';

export type DoseReading =
  | { kind: 'daily'; mcgPerDay: Decimal; written: string }
  | { kind: 'per-m2'; mcgPerM2PerDay: Decimal; written: string }
  | { kind: 'unreadable'; reason: string; written: string };

export type BoundsForm = 'period' | 'duration' | 'none';

export interface InstructionReading {
  /** Position in `order.dosageInstruction`. */
  index: number;
  /** 1-based rank among the dose-bearing instructions (by `sequence`, then position), for texts. */
  rank: number;
  bounds: BoundsForm;
  /** Cycle days covered, inclusive (day 1 = the planned start); absent when they cannot be read. */
  span?: [number, number];
  /** Why the span cannot be read. */
  spanProblem?: string;
  dose: DoseReading;
}

export interface OrderDoses {
  /** Dose-bearing instructions, ordered by `sequence` then position. */
  instructions: InstructionReading[];
  /** The bounds form the order uses: a period if any instruction has one, else a duration if any, else none. */
  boundsForm: BoundsForm;
}

/**
 * The planned start (contract section 4): the earliest `timing.repeat.boundsPeriod.start` among the order's dosage
 * instructions, else `authoredOn`, else the date the call was received.
 * @param order - the MedicationRequest
 * @param received - the UTC date the call was received, YYYY-MM-DD
 */
export function plannedStartOf(order: MedicationRequest, received: string): string {
  let earliest: string | undefined;
  for (const instruction of dosageInstructions(order)) {
    const start = dateOnly(repeatOf(instruction)?.boundsPeriod?.start);
    if (start !== undefined && (earliest === undefined || start < earliest)) {
      earliest = start;
    }
  }
  return earliest ?? dateOnly(order.authoredOn) ?? received;
}

/** The order's dosage instructions that are objects, with their positions. */
export function dosageInstructions(order: MedicationRequest): Dosage[] {
  const list: unknown = order.dosageInstruction;
  return Array.isArray(list) ? list.filter((d): d is Dosage => !!d && typeof d === 'object') : [];
}

/**
 * Reads every dose-bearing instruction: its daily dose (mcg/day, mcg/m2/day, or unreadable) and the cycle days it
 * spans. Instructions are laid out by `sequence` (then position): a `boundsPeriod` places an instruction on its
 * dates, a `boundsDuration` continues from the end of the previous one, and an instruction without bounds runs from
 * there to `lastInfusionDay` when it is the last one.
 * @param order - the MedicationRequest
 * @param plannedStart - day 1, YYYY-MM-DD
 * @param lastInfusionDay - the last infusion day of the cycle (for open spans)
 * @param synonyms - the policy's unit synonym list
 */
export function readDoses(
  order: MedicationRequest,
  plannedStart: string,
  lastInfusionDay: number,
  synonyms: Readonly<Record<string, string>>
): OrderDoses {
  const all = dosageInstructions(order);
  const raw: unknown = order.dosageInstruction;
  const bearing: Array<{ instruction: Dosage; index: number }> = [];
  (Array.isArray(raw) ? (raw as unknown[]) : []).forEach((instruction, index) => {
    if (instruction && typeof instruction === 'object' && carriesDose(instruction)) {
      bearing.push({ instruction: instruction, index });
    }
  });
  bearing.sort((a, b) => sequenceOf(a.instruction) - sequenceOf(b.instruction) || a.index - b.index);

  let boundsForm: BoundsForm = 'none';
  if (all.some((d) => repeatOf(d)?.boundsPeriod)) {
    boundsForm = 'period';
  } else if (all.some((d) => repeatOf(d)?.boundsDuration)) {
    boundsForm = 'duration';
  }

  let cursor = 1;
  const instructions = bearing.map(({ instruction, index }, i): InstructionReading => {
    const repeat = repeatOf(instruction);
    const reading: InstructionReading = {
      index,
      rank: i + 1,
      bounds: repeat?.boundsPeriod ? 'period' : repeat?.boundsDuration ? 'duration' : 'none',
      dose: readDose(instruction, synonyms),
    };
    const span = spanOf(instruction, plannedStart, cursor, lastInfusionDay, i === bearing.length - 1, synonyms);
    if (typeof span === 'string') {
      reading.spanProblem = span;
    } else {
      reading.span = span;
      cursor = span[1] + 1;
    }
    return reading;
  });
  return { instructions, boundsForm };
}

/** The dose of one instruction in mcg/day or mcg/m2/day (contract section 7 reading rules). */
export function readDose(instruction: Dosage, synonyms: Readonly<Record<string, string>>): DoseReading {
  const entries: unknown = instruction.doseAndRate;
  const list = Array.isArray(entries)
    ? entries.filter((e): e is Record<string, unknown> => !!e && typeof e === 'object')
    : [];
  const withQuantity = list.find((e) => e.doseQuantity && typeof e.doseQuantity === 'object');
  if (!withQuantity) {
    return { kind: 'unreadable', reason: 'it is not a single dose quantity', written: 'no dose quantity' };
  }
  const quantity = withQuantity.doseQuantity as QuantityLike;
  const written = describeQuantity(quantity);
  const value = decimalOf(quantity.value);
  if (!value || value.lt(0) || quantity.comparator !== undefined) {
    return { kind: 'unreadable', reason: 'its value cannot be read', written };
  }
  const unit = readUnit(quantity, synonyms);
  if (unit === undefined) {
    return { kind: 'unreadable', reason: 'its unit is not a unit we can read', written };
  }
  const daily = toQuantityIn(value, unit, 'ug/d');
  if (daily) {
    return { kind: 'daily', mcgPerDay: daily, written };
  }
  const perM2 = toQuantityIn(value, unit, 'ug/(m2.d)');
  if (perM2) {
    return { kind: 'per-m2', mcgPerM2PerDay: perM2, written };
  }
  const mass = toQuantityIn(value, unit, 'ug');
  const massPerM2 = mass ? undefined : toQuantityIn(value, unit, 'ug/m2');
  if (mass || massPerM2) {
    if (!isOnceDaily(instruction)) {
      return { kind: 'unreadable', reason: 'it is an amount without a once-daily timing', written };
    }
    return mass
      ? { kind: 'daily', mcgPerDay: mass, written }
      : { kind: 'per-m2', mcgPerM2PerDay: massPerM2 as Decimal, written };
  }
  return { kind: 'unreadable', reason: 'its unit is not a dose per day', written };
}

export type QuantityReading =
  | { status: 'absent' }
  | { status: 'unreadable'; written: string }
  | { status: 'vials'; vials: Decimal; written: string }
  | { status: 'mcg'; mcg: Decimal; written: string };

/** `dispenseRequest.quantity` in vials (`vial`, `{vial}`) or micrograms (`ug`, i.e. billable units). */
export function readQuantity(order: MedicationRequest, synonyms: Readonly<Record<string, string>>): QuantityReading {
  const quantity = dispenseField(order, 'quantity');
  if (quantity === undefined) {
    return { status: 'absent' };
  }
  const written = describeQuantity(quantity);
  const vials = quantityIn(quantity, '{vial}', synonyms);
  if (vials && vials.gte(0)) {
    return { status: 'vials', vials, written };
  }
  const mcg = quantityIn(quantity, 'ug', synonyms);
  if (mcg && mcg.gte(0)) {
    return { status: 'mcg', mcg, written };
  }
  return { status: 'unreadable', written };
}

export type SupplyReading =
  { status: 'absent' } | { status: 'unreadable'; written: string } | { status: 'days'; days: Decimal; written: string };

/** `dispenseRequest.expectedSupplyDuration` in days. */
export function readSupplyDuration(
  order: MedicationRequest,
  synonyms: Readonly<Record<string, string>>
): SupplyReading {
  const duration = dispenseField(order, 'expectedSupplyDuration');
  if (duration === undefined) {
    return { status: 'absent' };
  }
  const written = describeQuantity(duration);
  const days = quantityIn(duration, 'd', synonyms);
  return days ? { status: 'days', days, written } : { status: 'unreadable', written };
}

function dispenseField(
  order: MedicationRequest,
  field: 'quantity' | 'expectedSupplyDuration'
): QuantityLike | undefined {
  const dispense: unknown = order.dispenseRequest;
  if (!dispense || typeof dispense !== 'object') {
    return undefined;
  }
  const value: unknown = (dispense as Record<string, unknown>)[field];
  return value && typeof value === 'object' ? value : undefined;
}

function carriesDose(instruction: Dosage): boolean {
  const entries: unknown = instruction.doseAndRate;
  return (
    Array.isArray(entries) && entries.some((e) => !!e && typeof e === 'object' && Object.keys(e as object).length > 0)
  );
}

function sequenceOf(instruction: Dosage): number {
  const sequence: unknown = instruction.sequence;
  return typeof sequence === 'number' && Number.isFinite(sequence) ? sequence : Number.MAX_SAFE_INTEGER;
}

type Repeat = NonNullable<NonNullable<Dosage['timing']>['repeat']>;

function repeatOf(instruction: Dosage): Repeat | undefined {
  const timing: unknown = instruction.timing;
  if (!timing || typeof timing !== 'object') {
    return undefined;
  }
  const repeat: unknown = (timing as { repeat?: unknown }).repeat;
  return repeat && typeof repeat === 'object' ? repeat : undefined;
}

// Once per day: `frequency` 1 (absent means 1), `period` 1, `periodUnit` d.
function isOnceDaily(instruction: Dosage): boolean {
  const repeat = repeatOf(instruction);
  if (!repeat) {
    return false;
  }
  const frequency = repeat.frequency === undefined ? 1 : repeat.frequency;
  return frequency === 1 && repeat.period === 1 && repeat.periodUnit === 'd';
}

// The cycle days an instruction spans, or why they cannot be read.
function spanOf(
  instruction: Dosage,
  plannedStart: string,
  cursor: number,
  lastInfusionDay: number,
  isLast: boolean,
  synonyms: Readonly<Record<string, string>>
): [number, number] | string {
  const repeat = repeatOf(instruction);
  if (repeat?.boundsPeriod) {
    const period: unknown = repeat.boundsPeriod;
    const p = (period && typeof period === 'object' ? period : {}) as { start?: unknown; end?: unknown };
    const start = dateOnly(p.start);
    if (start === undefined) {
      return 'its period has no readable start date';
    }
    const first = daysBetween(plannedStart, start) + 1;
    let last = Math.max(lastInfusionDay, first);
    if (p.end !== undefined) {
      const end = dateOnly(p.end);
      if (end === undefined || end < start) {
        return 'its period end cannot be read';
      }
      last = daysBetween(plannedStart, end) + 1;
    }
    return [first, last];
  }
  if (repeat?.boundsDuration) {
    const days = quantityIn(repeat.boundsDuration, 'd', synonyms);
    if (!days || !days.isInteger() || days.lte(0) || days.gt(3650)) {
      return 'its duration is not a whole number of days';
    }
    return [cursor, cursor + days.toNumber() - 1];
  }
  if (repeat?.boundsRange) {
    return 'its days are given as a range';
  }
  if (!isLast) {
    return 'it states no days and another instruction follows it';
  }
  return [cursor, Math.max(cursor, lastInfusionDay)];
}

/** The date of cycle day `day` (day 1 = the planned start). */
export function dateOfDay(plannedStart: string, day: number): string {
  return addDays(plannedStart, day - 1);
}
