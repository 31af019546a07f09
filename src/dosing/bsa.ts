// Body surface area (contract section 7; data profile section 2): a charted BSA (LOINC 8277-6) within the allowed
// age is used unless implausible; otherwise Mosteller, sqrt(height_cm x weight_kg / 3600), rounded half up to
// hundredths of a m2, exactly.
import { Decimal } from 'decimal.js';
import type { DosePrompt, DosingRules } from './types';
import { addDays } from './dates';
import type { Measure, MeasureResult } from './measures';
import { Dec, formatDecimal } from './units';

/**
 * Mosteller's BSA rounded half up to hundredths of a m2, computed exactly: the result n/100 is the one integer n
 * with 9(2n-1)^2 <= 100 x height x weight < 9(2n+1)^2 (the half-way points squared), so no square root is trusted.
 * @param heightCm - height in cm
 * @param weightKg - weight in kg
 */
export function mostellerBsa(heightCm: Decimal, weightKg: Decimal): Decimal {
  const hundredV = new Dec(heightCm).times(weightKg).times(100);
  if (hundredV.lte(0)) {
    return new Dec(0);
  }
  const nine = new Dec(9);
  const bound = (k: number): Decimal => nine.times(new Dec(2 * k + 1).pow(2));
  let n = Dec.sqrt(hundredV.div(36)).plus(0.5).floor().toNumber();
  // hundredV / 36 = 10000 x h x w / 3600, the square of 100 x BSA: n is now within one of the answer.
  while (bound(n).lte(hundredV)) {
    n += 1;
  }
  while (n > 0 && bound(n - 1).gt(hundredV)) {
    n -= 1;
  }
  return new Dec(n).div(100);
}

/** The unrounded Mosteller value to four decimals (display only). */
export function mostellerDisplay(heightCm: Decimal, weightKg: Decimal): string {
  const exact = Dec.sqrt(new Dec(heightCm).times(weightKg).div(3600));
  return exact.toDecimalPlaces(4, Decimal.ROUND_DOWN).toFixed(4);
}

export interface BsaResult {
  /** The BSA to use, in m2 (hundredths); absent when it cannot be established. */
  bsa?: Decimal;
  source?: 'charted' | 'mosteller';
  /** Why a BSA could not be established: the height is missing or unknown. */
  heightNeeded?: boolean;
  lines: string[];
  prompts: DosePrompt[];
}

/**
 * The BSA for dosing, its source, and what a person must verify.
 * @param weight - the weight used for dosing
 * @param height - the latest height at the planned start
 * @param charted - the latest charted BSA at the planned start
 * @param plannedStart - YYYY-MM-DD
 * @param rules - the policy's dosing rules
 */
export function resolveBsa(
  weight: Measure,
  height: MeasureResult,
  charted: MeasureResult,
  plannedStart: string,
  rules: DosingRules
): BsaResult {
  const lines: string[] = [];
  const prompts: DosePrompt[] = [];
  let mosteller: Decimal | undefined;
  if (height.status === 'found') {
    const h = height.measure;
    mosteller = mostellerBsa(h.value, weight.value);
    lines.push(
      `Mosteller BSA: sqrt(${formatDecimal(h.value)} cm × ${formatDecimal(weight.value)} kg / 3600) = ` +
        `${mostellerDisplay(h.value, weight.value)}, rounded half up to ${formatDecimal(mosteller)} m²`
    );
  }

  const oldest = addDays(plannedStart, -rules.bsaMaxAgeDays);
  let usable: Measure | undefined;
  if (charted.status === 'found') {
    const c = charted.measure;
    if (c.date < oldest) {
      lines.push(
        `Charted BSA ${formatDecimal(c.value)} m² (${c.date}) is older than ${rules.bsaMaxAgeDays} days: not used`
      );
    } else {
      const problem = implausibility(c.value, mosteller, rules);
      if (problem) {
        lines.push(`Charted BSA ${formatDecimal(c.value)} m² (${c.date}) is implausible (${problem}): not used`);
        prompts.push({
          kind: 'implausible-bsa',
          text:
            `Verify the charted BSA of ${formatDecimal(c.value)} m² (${c.date}): it is ${problem}. ` +
            (mosteller ? `The Mosteller BSA ${formatDecimal(mosteller)} m² was used.` : 'It was not used.'),
        });
      } else {
        usable = c;
      }
    }
  } else if (charted.status === 'unknown' && charted.date >= oldest) {
    const why = charted.reason === 'disagree' ? 'disagree' : 'cannot be read';
    lines.push(`Charted BSA of ${charted.date} ${why}: not used`);
    prompts.push({
      kind: 'implausible-bsa',
      text: `Verify the charted BSA: the values charted on ${charted.date} ${why}.`,
    });
  }

  if (usable) {
    lines.push(`BSA used: ${formatDecimal(usable.value)} m², charted on ${usable.date}`);
    return { bsa: usable.value, source: 'charted', lines, prompts };
  }
  if (mosteller) {
    lines.push(`BSA used: ${formatDecimal(mosteller)} m² (Mosteller)`);
    return { bsa: mosteller, source: 'mosteller', lines, prompts };
  }
  lines.push('BSA: unknown (no usable height)');
  return { heightNeeded: true, lines, prompts };
}

// Why a charted BSA is implausible, or undefined when it is plausible.
function implausibility(value: Decimal, mosteller: Decimal | undefined, rules: DosingRules): string | undefined {
  const { minM2, maxM2, maxRelativeDifference } = rules.bsaPlausibility;
  if (value.lt(minM2) || value.gt(maxM2)) {
    return `outside ${formatDecimal(new Dec(minM2))}–${formatDecimal(new Dec(maxM2))} m²`;
  }
  if (mosteller && mosteller.gt(0) && value.minus(mosteller).abs().gt(mosteller.times(maxRelativeDifference))) {
    const percent = formatDecimal(new Dec(maxRelativeDifference).times(100));
    return `more than ${percent} % from the Mosteller value ${formatDecimal(mosteller)} m²`;
  }
  return undefined;
}
