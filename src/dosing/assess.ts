// The dose and quantity check of one governed order (contract sections 6 and 7): expected daily doses from the
// schedule, the weight and the BSA; the ordered doses, quantity and supply duration read from the order; the
// findings, the prompts for a person, the arithmetic, and a corrected order when something must change.
// Pure and exact: no clock, no floating point in any comparison (decimal.js throughout).
import type { Decimal } from 'decimal.js';
import type { CycleSpec, DoseAssessment, DoseBand, DoseInput, DosePrompt, DoseSchedule, DosingRules } from './types';
import { resolveBsa } from './bsa';
import type { CorrectionPlan, DoseBandCorrection } from './correct';
import { applyCorrections } from './correct';
import { addDays, addYears, dateOnly } from './dates';
import type { Measure, MeasureResult } from './measures';
import { latestMeasure } from './measures';
import type { InstructionReading } from './read-order';
import { readDoses, readQuantity, readSupplyDuration } from './read-order';
import { Dec, formatDecimal, roundHalfUp } from './units';

const MAX_SUMMARY = 139;

/**
 * Checks the dose, quantity and supply duration of one governed order.
 * @param input - the order, its dates and cycle, the schedule of the best pathway and the patient's measurements
 */
export function assessDose(input: DoseInput): DoseAssessment {
  // Bad input gets prompts from the checks themselves; anything thrown here is a bug of this module, and the engine
  // (policy/evaluate.ts) logs it and leaves the dose to a person (DoseAssessment.unchecked).
  return new Assessment(input).run();
}

/**
 * The schedule's cycle specification for `cycle`: the one whose range holds it; past the last range, the last one
 * (the cycle limit is the policy engine's business, the dose of a later cycle follows the last stated one).
 * @param schedule - the schedule of the best pathway
 * @param cycle - the order's cycle number
 */
export function cycleSpecFor(schedule: DoseSchedule, cycle: number): CycleSpec | undefined {
  const specs = Array.isArray(schedule.cycles) ? schedule.cycles : [];
  const holding = specs.find((s) => s.from <= cycle && (s.to === undefined || cycle <= s.to));
  if (holding) {
    return holding;
  }
  return specs.filter((s) => s.from <= cycle).sort((a, b) => b.from - a.from)[0];
}

/** The highest daily cap of any band of any schedule: the one cap checked when no schedule applies (28 mcg/day). */
export function overallCap(rules: DosingRules): Decimal | undefined {
  let cap: Decimal | undefined;
  for (const schedule of Object.values(rules.schedules ?? {})) {
    for (const spec of schedule.cycles ?? []) {
      for (const band of spec.bands ?? []) {
        const c = new Dec(band.capMcgPerDay);
        cap = cap === undefined || c.gt(cap) ? c : cap;
      }
    }
  }
  return cap;
}

interface ExpectedBand {
  band: DoseBand;
  days: [number, number];
  mcgPerDay: Decimal;
  cap: Decimal;
}

class Assessment {
  private readonly findings: string[] = [];
  private readonly prompts: DosePrompt[] = [];
  private readonly lines: string[] = [];
  private readonly plan: CorrectionPlan = {};
  private readonly synonyms: Readonly<Record<string, string>>;
  private readonly rules: DosingRules;
  private readonly spec: CycleSpec | undefined;
  /** Full check: the indication is met and the schedule has a specification for this cycle. */
  private readonly full: boolean;
  private readonly cap: Decimal | undefined;
  private summaryDose: string | undefined;
  /** The same, shorter, for a summary that would not fit otherwise. */
  private summaryDoseShort: string | undefined;
  private summaryQuantity: string | undefined;
  private summaryQuantityShort: string | undefined;
  private summarySupply: string | undefined;
  private expected: DoseAssessment['expected'];
  private allowedPeriod: DoseAssessment['allowedPeriod'];

  constructor(private readonly input: DoseInput) {
    this.rules = input.rules;
    this.synonyms = input.rules.unitSynonyms ?? {};
    this.spec = input.schedule ? cycleSpecFor(input.schedule, input.cycle) : undefined;
    this.full = input.indicationMet === true && !!this.spec && (this.spec.bands ?? []).length > 0;
    this.cap = overallCap(input.rules);
  }

  run(): DoseAssessment {
    const { plannedStart, cycle } = this.input;
    const bands = this.full && this.spec ? this.spec.bands : [];
    const lastInfusionDay = bands.reduce((max, b) => Math.max(max, b.days[1]), 0) || this.anyLastInfusionDay();
    const doses = readDoses(this.input.order, plannedStart, lastInfusionDay, this.synonyms);

    this.lines.push(`Cycle ${cycle}, planned start ${plannedStart}`);
    if (this.full && this.spec && this.input.schedule) {
      this.lines.push(
        `Schedule ${this.input.schedule.id}, cycle ${cycle}: ${this.spec.lengthDays}-day cycle, ` +
          bands.map((b) => `days ${b.days[0]}–${b.days[1]}`).join(' then ')
      );
    } else if (this.cap) {
      const why = this.input.schedule ? 'the indication is not shown to be met' : 'no dosing schedule applies';
      this.lines.push(`Only the ${formatDecimal(this.cap)} mcg/day maximum is checked: ${why}`);
    }

    const weight = this.weight();
    if (weight) {
      this.checkDoses(weight, doses.instructions, doses.boundsForm);
    }
    this.checkQuantity();
    if (this.full && this.spec) {
      this.checkSupply(this.spec.lengthDays);
    }
    return this.result();
  }

  private anyLastInfusionDay(): number {
    let last = 0;
    for (const schedule of Object.values(this.rules.schedules ?? {})) {
      for (const spec of schedule.cycles ?? []) {
        for (const band of spec.bands ?? []) {
          last = Math.max(last, band.days[1]);
        }
      }
    }
    return last || 1;
  }

  /** The latest weight in kg, with the prompts a stale or missing weight needs. */
  private weight(): Measure | undefined {
    const { plannedStart, patient } = this.input;
    const result = latestMeasure(patient?.weights, 'kg', plannedStart, this.synonyms);
    if (result.status !== 'found') {
      const why =
        result.status === 'none'
          ? `No weight is charted on or before the planned start (${plannedStart})`
          : `The weights charted on ${result.date} ${result.reason === 'disagree' ? 'disagree' : 'cannot be read'}`;
      this.prompts.push({ kind: 'missing-weight', text: `${why}. Chart a current weight so the dose can be checked.` });
      this.lines.push('Weight: unknown; no dose verdict');
      return undefined;
    }
    const w = result.measure;
    const inKg = `${formatDecimal(w.value)} kg`;
    this.lines.push(`Weight: ${inKg} (${w.charted === inKg ? '' : `charted ${w.charted}, `}${w.date})`);
    const child = this.isUnder18();
    const maxAge = child ? this.rules.weightMaxAgeDays.child : this.rules.weightMaxAgeDays.adult;
    if (w.date < addDays(plannedStart, -maxAge)) {
      this.prompts.push({
        kind: 'stale-weight',
        text:
          `The latest weight (${inKg}, ${w.date}) is more than ${maxAge} days old at the planned start ` +
          `${plannedStart}${child ? ' (patient under 18)' : ''}. It was used; chart a current weight.`,
      });
    }
    return w;
  }

  private isUnder18(): boolean {
    const birthDate = dateOnly(this.input.patient?.birthDate);
    return birthDate !== undefined && addYears(birthDate, 18) > this.input.plannedStart;
  }

  private checkDoses(
    weight: Measure,
    instructions: InstructionReading[],
    boundsForm: 'period' | 'duration' | 'none'
  ): void {
    const threshold = new Dec(this.rules.weightThresholdKg);
    const basis: 'fixed' | 'bsa' = weight.value.gte(threshold) ? 'fixed' : 'bsa';
    if (this.full) {
      this.lines.push(
        basis === 'fixed'
          ? `Weight ≥ ${formatDecimal(threshold)} kg: fixed dose`
          : `Weight < ${formatDecimal(threshold)} kg: dose by BSA, capped`
      );
    }

    const perM2Ordered = instructions.some((i) => i.dose.kind === 'per-m2');
    let bsa: Decimal | undefined;
    if ((this.full && basis === 'bsa') || perM2Ordered) {
      bsa = this.bsa(weight, basis === 'bsa' && this.full);
    }

    const expected = this.full ? this.expectedBands(basis, bsa) : undefined;

    // Read the ordered doses; any that cannot be read stops the dose verdict (a prompt, never a guess).
    if (instructions.length === 0) {
      this.prompts.push({
        kind: 'unreadable-dose',
        text: 'The order states no dose. Write the daily dose in mcg/day.',
      });
      return;
    }
    let readable = true;
    for (const instruction of instructions) {
      const label = instructions.length > 1 ? `Dose instruction ${instruction.rank}` : 'The dose';
      if (instruction.dose.kind === 'unreadable') {
        readable = false;
        this.prompts.push({
          kind: 'unreadable-dose',
          text: `${label} (${instruction.dose.written}) cannot be read: ${instruction.dose.reason}. Write it in mcg/day.`,
        });
      } else if (this.full && instruction.spanProblem) {
        readable = false;
        this.prompts.push({
          kind: 'unreadable-dose',
          text: `The days of ${label.toLowerCase()} cannot be read: ${instruction.spanProblem}.`,
        });
      }
    }
    if (!readable) {
      return;
    }
    const ordered = new Map<InstructionReading, Decimal>();
    for (const instruction of instructions) {
      const mcg = this.orderedTenths(instruction, bsa);
      if (!mcg) {
        return; // a per-m2 dose without a BSA: the height prompt stands
      }
      ordered.set(instruction, mcg);
    }

    if (this.full) {
      if (expected) {
        this.compareWithSchedule(instructions, ordered, expected, boundsForm);
      }
    } else {
      this.compareWithCap(instructions, ordered, boundsForm);
    }
  }

  /** The BSA for dosing, or undefined with a height prompt. */
  private bsa(weight: Measure, bsaDosing: boolean): Decimal | undefined {
    const { plannedStart, patient } = this.input;
    const height: MeasureResult = latestMeasure(patient?.heights, 'cm', plannedStart, this.synonyms);
    const charted: MeasureResult = latestMeasure(patient?.bsas, 'm2', plannedStart, this.synonyms);
    if (height.status === 'found') {
      const h = height.measure;
      const inCm = `${formatDecimal(h.value)} cm`;
      this.lines.push(`Height: ${inCm} (${h.charted === inCm ? '' : `charted ${h.charted}, `}${h.date})`);
    }
    const result = resolveBsa(weight, height, charted, plannedStart, this.rules);
    this.lines.push(...result.lines);
    this.prompts.push(...result.prompts);
    if (result.heightNeeded) {
      const why =
        height.status === 'unknown'
          ? `The heights charted on ${height.date} ${height.reason === 'disagree' ? 'disagree' : 'cannot be read'}`
          : `No height is charted on or before the planned start (${plannedStart})`;
      const need = bsaDosing
        ? `the dose is based on BSA (weight under ${formatDecimal(new Dec(this.rules.weightThresholdKg))} kg)`
        : 'the dose is ordered per m²';
      this.prompts.push({ kind: 'missing-height', text: `${why}. Chart a current height: ${need}.` });
    }
    return result.bsa;
  }

  /** Expected daily doses per band, in tenths of a mcg; undefined when a BSA is needed and unknown. */
  private expectedBands(basis: 'fixed' | 'bsa', bsa: Decimal | undefined): ExpectedBand[] | undefined {
    const spec = this.spec;
    if (!spec || (basis === 'bsa' && !bsa)) {
      return undefined;
    }
    const bands = spec.bands.map((band): ExpectedBand => {
      const cap = roundHalfUp(new Dec(band.capMcgPerDay), 1);
      const days = `Days ${band.days[0]}–${band.days[1]}`;
      if (basis === 'fixed' || !bsa) {
        // Contract section 7: the expected dose never exceeds the cap (a fixed dose above it is a table error).
        const fixed = Dec.min(roundHalfUp(new Dec(band.fixedMcgPerDay), 1), cap);
        this.lines.push(`${days}: fixed ${formatDecimal(fixed)} mcg/day (cap ${formatDecimal(cap)} mcg/day)`);
        return { band, days: band.days, mcgPerDay: fixed, cap };
      }
      const rate = new Dec(band.mcgPerM2PerDay);
      const product = rate.times(bsa);
      const rounded = roundHalfUp(product, 1);
      const capped = rounded.gt(cap) ? cap : rounded;
      this.lines.push(
        `${days}: ${formatDecimal(rate)} mcg/m²/day × ${formatDecimal(bsa)} m² = ${formatDecimal(product)}, ` +
          `rounded half up to tenths: ${formatDecimal(rounded)} mcg/day; cap ${formatDecimal(cap)} mcg/day` +
          (rounded.gt(cap) ? ` applies: ${formatDecimal(capped)} mcg/day` : '')
      );
      return { band, days: band.days, mcgPerDay: capped, cap };
    });
    this.expected = {
      basis,
      cycleLengthDays: spec.lengthDays,
      bands: bands.map((b) => ({ days: [b.days[0], b.days[1]], mcgPerDay: formatDecimal(b.mcgPerDay) })),
    };
    return bands;
  }

  /** The ordered daily dose of one instruction in tenths of a mcg (half up), with its arithmetic line. */
  private orderedTenths(instruction: InstructionReading, bsa: Decimal | undefined): Decimal | undefined {
    const where = instruction.span ? ` (days ${instruction.span[0]}–${instruction.span[1]})` : '';
    const label = `Ordered, instruction ${instruction.rank}${where}`;
    const dose = instruction.dose;
    if (dose.kind === 'daily') {
      const tenths = roundHalfUp(dose.mcgPerDay, 1);
      const exact = formatDecimal(dose.mcgPerDay);
      this.lines.push(
        `${label}: ${dose.written} = ${exact} mcg/day` +
          (tenths.eq(dose.mcgPerDay) ? '' : `, rounded half up to ${formatDecimal(tenths)} mcg/day`)
      );
      return tenths;
    }
    if (dose.kind === 'per-m2') {
      if (!bsa) {
        this.lines.push(`${label}: ${dose.written}; no BSA to convert it`);
        return undefined;
      }
      const product = dose.mcgPerM2PerDay.times(bsa);
      const tenths = roundHalfUp(product, 1);
      const rate = `${formatDecimal(dose.mcgPerM2PerDay)} mcg/m²/day`;
      this.lines.push(
        `${label}: ${dose.written === rate ? '' : `${dose.written} = `}${rate} × ${formatDecimal(bsa)} m² = ` +
          `${formatDecimal(product)}, rounded half up to ${formatDecimal(tenths)} mcg/day`
      );
      return tenths;
    }
    return undefined;
  }

  private compareWithSchedule(
    instructions: InstructionReading[],
    ordered: Map<InstructionReading, Decimal>,
    expected: ExpectedBand[],
    boundsForm: 'period' | 'duration' | 'none'
  ): void {
    const tolerance = new Dec(this.rules.doseTolerance);
    const percent = formatDecimal(tolerance.times(100));
    const inPlace = new Map<number, Decimal>();
    let stepUpMissing = false;
    const perBand: string[] = [];
    const straddling: string[] = [];
    /** Per band (by index in `expected`), the distinct daily doses ordered inside it. */
    const orderedInBand = new Map<number, Set<string>>();

    for (const instruction of instructions) {
      const span = instruction.span;
      const mcg = ordered.get(instruction);
      if (!span || !mcg) {
        continue;
      }
      const overlapping = expected.filter((b) => span[0] <= b.days[1] && b.days[0] <= span[1]);
      const distinct = new Set(overlapping.map((b) => b.mcgPerDay.toFixed()));
      if (distinct.size > 1) {
        stepUpMissing = true;
        straddling.push(`${formatDecimal(mcg)} mcg/day on days ${Math.max(span[0], 1)}–${span[1]}`);
        continue;
      }
      const band = overlapping[0];
      if (!band) {
        continue; // outside the infusion days
      }
      const bandIndex = expected.indexOf(band);
      const seen = orderedInBand.get(bandIndex) ?? new Set<string>();
      seen.add(mcg.toFixed());
      orderedInBand.set(bandIndex, seen);
      const days = `Days ${band.days[0]}–${band.days[1]}`;
      const e = band.mcgPerDay;
      // Contract section 7: the caps are hard, whatever the tolerance and whether the dose is fixed or by BSA.
      const overCap = mcg.gt(band.cap);
      const offBy = mcg.minus(e).abs().gt(e.times(tolerance));
      if (overCap) {
        perBand.push(
          `${days}: ordered ${formatDecimal(mcg)} mcg/day exceeds the ${formatDecimal(band.cap)} mcg/day cap; ` +
            `expected ${formatDecimal(e)} mcg/day.`
        );
      } else if (offBy) {
        perBand.push(
          `${days}: ordered ${formatDecimal(mcg)} mcg/day, expected ${formatDecimal(e)} mcg/day ` +
            `(more than ${percent} % off).`
        );
      }
      if (overCap || offBy) {
        inPlace.set(instruction.index, e);
      }
    }

    const bandsText = expected
      .map((b) => `${formatDecimal(b.mcgPerDay)} mcg/day on days ${b.days[0]}–${b.days[1]}`)
      .join(', then ');
    if (stepUpMissing) {
      this.findings.push(
        `Cycle ${this.input.cycle} lacks the step-up: ordered ${straddling.join(' and ')}; expected ${bandsText}.`
      );
    }
    // Different doses ordered within one band (a step-up where the schedule has none): when a dose is wrong, the
    // order is rebuilt with one instruction per band rather than keeping instructions that no longer differ.
    const unrequiredStepUp = inPlace.size > 0 && [...orderedInBand.values()].some((doses) => doses.size > 1);
    if (unrequiredStepUp) {
      this.findings.push(`Cycle ${this.input.cycle} of this schedule has no step-up: the dose is ${bandsText}.`);
    }
    this.findings.push(...perBand);
    // Contract section 6: an order without bounds gets durations whenever its dose is rewritten.
    if (stepUpMissing || unrequiredStepUp || (inPlace.size > 0 && boundsForm === 'none')) {
      const template = instructions[0];
      this.plan.doses = {
        mode: 'rebuild',
        bands: expected.map((b): DoseBandCorrection => ({ days: b.days, mcgPerDay: b.mcgPerDay })),
        boundsForm,
        plannedStart: this.input.plannedStart,
        templateIndex: template ? template.index : 0,
      };
    } else if (inPlace.size > 0) {
      this.plan.doses = { mode: 'in-place', doses: inPlace };
    }
    if (this.plan.doses) {
      this.summaryDose = `dose ${bandsText}`;
      this.summaryDoseShort = `${expected.map((b) => formatDecimal(b.mcgPerDay)).join(' then ')} mcg/day`;
    }
  }

  private compareWithCap(
    instructions: InstructionReading[],
    ordered: Map<InstructionReading, Decimal>,
    boundsForm: 'period' | 'duration' | 'none'
  ): void {
    const cap = this.cap;
    if (!cap) {
      return;
    }
    const inPlace = new Map<number, Decimal>();
    for (const instruction of instructions) {
      const mcg = ordered.get(instruction);
      if (mcg && mcg.gt(cap)) {
        const label = instructions.length > 1 ? `Dose instruction ${instruction.rank}: ordered` : 'Ordered';
        this.findings.push(
          `${label} ${formatDecimal(mcg)} mcg/day exceeds the maximum of ${formatDecimal(cap)} mcg/day.`
        );
        inPlace.set(instruction.index, cap);
      }
    }
    const only = instructions.length === 1 ? instructions[0] : undefined;
    if (inPlace.size > 0 && boundsForm === 'none' && only) {
      // An order without bounds gets a duration: the infusion days every schedule shares.
      this.plan.doses = {
        mode: 'rebuild',
        bands: [{ days: [1, this.anyLastInfusionDay()], mcgPerDay: cap }],
        boundsForm,
        plannedStart: this.input.plannedStart,
        templateIndex: only.index,
      };
    } else if (inPlace.size > 0) {
      this.plan.doses = { mode: 'in-place', doses: inPlace };
    }
    if (this.plan.doses) {
      this.summaryDose = `dose at most ${formatDecimal(cap)} mcg/day`;
      this.summaryDoseShort = `at most ${formatDecimal(cap)} mcg/day`;
    }
  }

  private checkQuantity(): void {
    const { vialsPerCycle, vialStrengthMcg, unitsPerCycle } = this.rules.limits;
    const maxVials = new Dec(vialsPerCycle);
    const strength = new Dec(vialStrengthMcg);
    const maxUnits = new Dec(unitsPerCycle);
    const limit = `limit ${formatDecimal(maxVials)} vials, ${formatDecimal(maxUnits)} units per cycle`;
    const quantity = readQuantity(this.input.order, this.synonyms);
    let over = false;
    if (quantity.status === 'absent') {
      return;
    }
    if (quantity.status === 'unreadable') {
      this.prompts.push({
        kind: 'unreadable-dose',
        text: `The dispense quantity (${quantity.written}) cannot be read. Write it in vials or mcg.`,
      });
      return;
    }
    if (quantity.status === 'vials') {
      const mcg = quantity.vials.times(strength);
      this.lines.push(
        `Quantity: ${formatDecimal(quantity.vials)} vials × ${formatDecimal(strength)} mcg = ${formatDecimal(mcg)} mcg ` +
          `= ${formatDecimal(mcg)} billable units; ${limit}`
      );
      over = quantity.vials.gt(maxVials) || mcg.gt(maxUnits);
    } else {
      const vials = quantity.mcg.div(strength);
      this.lines.push(
        `Quantity: ${formatDecimal(quantity.mcg)} mcg = ${formatDecimal(quantity.mcg)} billable units = ` +
          `${formatDecimal(roundHalfUp(vials, 1))} vials of ${formatDecimal(strength)} mcg; ${limit}`
      );
      over = quantity.mcg.gt(maxUnits) || quantity.mcg.gt(maxVials.times(strength));
    }
    if (over) {
      const allowed = Dec.min(maxVials, maxUnits.div(strength).floor());
      const asked =
        quantity.status === 'vials' ? `${formatDecimal(quantity.vials)} vials` : `${formatDecimal(quantity.mcg)} mcg`;
      this.findings.push(
        `The quantity of ${asked} exceeds the limit of ${formatDecimal(maxVials)} vials ` +
          `(${formatDecimal(maxUnits)} units) per cycle.`
      );
      this.plan.quantityVials = allowed.toNumber();
      this.summaryQuantity = `${formatDecimal(allowed)} vials (${formatDecimal(allowed.times(strength))} mcg) per cycle`;
      this.summaryQuantityShort = `${formatDecimal(allowed)} vials`;
    }
  }

  private checkSupply(lengthDays: number): void {
    const supply = readSupplyDuration(this.input.order, this.synonyms);
    const length = new Dec(lengthDays);
    if (supply.status === 'days' && supply.days.eq(length)) {
      this.lines.push(`Supply duration: ${formatDecimal(supply.days)} days = the ${lengthDays}-day cycle`);
      return;
    }
    if (supply.status === 'absent') {
      this.findings.push(`No supply duration is given; the cycle is ${lengthDays} days.`);
    } else {
      const asked = supply.status === 'days' ? `${formatDecimal(supply.days)} days` : `"${supply.written}"`;
      this.findings.push(`The supply duration of ${asked} differs from the ${lengthDays}-day cycle.`);
    }
    this.lines.push(
      `Supply duration: ${supply.status === 'absent' ? 'none' : supply.written}; cycle ${lengthDays} days`
    );
    this.plan.supplyDays = lengthDays;
    this.allowedPeriod = {
      start: this.input.plannedStart,
      end: addDays(this.input.plannedStart, lengthDays - 1),
    };
    this.summarySupply = `${lengthDays}-day supply`;
  }

  private result(): DoseAssessment {
    const assessment: DoseAssessment = {
      findings: this.findings,
      prompts: this.prompts,
      arithmetic: this.lines,
    };
    if (this.expected) {
      assessment.expected = this.expected;
    }
    if (this.findings.length > 0) {
      assessment.correction = {
        resource: applyCorrections(this.input.order, this.plan),
        summary: this.summary(),
      };
    }
    if (this.allowedPeriod) {
      assessment.allowedPeriod = this.allowedPeriod;
    }
    return assessment;
  }

  private summary(): string {
    const parts = [this.summaryDose, this.summaryQuantity, this.summarySupply].filter(
      (p): p is string => p !== undefined
    );
    const full = `Correct the order: ${parts.join('; ')}`;
    if (full.length <= MAX_SUMMARY) {
      return full;
    }
    const short = [this.summaryDoseShort, this.summaryQuantityShort, this.summarySupply].filter(
      (p): p is string => p !== undefined
    );
    const compact = `Correct the order: ${short.join('; ')}`;
    if (compact.length <= MAX_SUMMARY) {
      return compact;
    }
    const what = [
      this.summaryDose ? 'dose' : undefined,
      this.summaryQuantity ? 'quantity' : undefined,
      this.summarySupply ? 'supply duration' : undefined,
    ].filter((p): p is string => p !== undefined);
    return `Correct the order's ${what.join(', ')}: see the expected values in the details`;
  }
}
