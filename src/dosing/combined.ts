// The per-cycle quantity checked across the governed orders of one call (contract sections 6 and 7): the orders of a
// call share one cycle, so when each asks for no more than the limit (28 vials of 35 mcg, 980 billable units of
// J9039) but together they ask for more, a person must look at them. Exact arithmetic (decimal.js), pure.
import type { MedicationRequest } from 'fhir/r4';
import type { Decimal } from 'decimal.js';
import { readQuantity } from './read-order';
import type { DosingRules } from './types';
import { Dec, formatDecimal } from './units';

export interface CombinedOrder {
  /** Index in `context.draftOrders.entry`. */
  index: number;
  order: MedicationRequest;
}

export interface CombinedQuantityFinding {
  /** Each order counted: its position, its quantity as written, and its vials and micrograms (exact, as text). */
  orders: Array<{ index: number; written: string; vials: string; mcg: string }>;
  /** The totals (1 billable J9039 unit = 1 mcg). */
  totalVials: string;
  totalMcg: string;
  limits: { vials: number; units: number };
  /** The arithmetic in plain text (quotes the request's units: escape before placing it in markdown). */
  arithmetic: string;
}

/**
 * Adds up the dispense quantities of the governed orders of one call and reports when, each within the per-cycle
 * limit, together they exceed it. Orders whose quantity is absent or unreadable are not counted (their own check
 * asks for a readable one); with fewer than two counted orders, or one order over the limit alone (its own
 * correction applies), there is nothing to report.
 * @param orders - the governed orders of the call, in `draftOrders` order.
 * @param rules - the policy's dosing rules (limits and unit synonyms).
 */
export function checkCombinedQuantity(
  orders: readonly CombinedOrder[],
  rules: Pick<DosingRules, 'limits' | 'unitSynonyms'>
): CombinedQuantityFinding | undefined {
  const strength = new Dec(rules.limits.vialStrengthMcg);
  const maxVials = new Dec(rules.limits.vialsPerCycle);
  const maxUnits = new Dec(rules.limits.unitsPerCycle);
  const counted: Array<{ index: number; written: string; vials: Decimal; mcg: Decimal }> = [];
  for (const { index, order } of orders) {
    const q = readQuantity(order, rules.unitSynonyms);
    if (q.status === 'vials') {
      counted.push({ index, written: q.written, vials: q.vials, mcg: q.vials.times(strength) });
    } else if (q.status === 'mcg') {
      counted.push({ index, written: q.written, vials: q.mcg.div(strength), mcg: q.mcg });
    }
  }
  if (counted.length < 2 || counted.some((c) => c.vials.gt(maxVials) || c.mcg.gt(maxUnits))) {
    return undefined;
  }
  const totalVials = counted.reduce((sum, c) => sum.plus(c.vials), new Dec(0));
  const totalMcg = counted.reduce((sum, c) => sum.plus(c.mcg), new Dec(0));
  if (!totalVials.gt(maxVials) && !totalMcg.gt(maxUnits)) {
    return undefined;
  }
  const parts = counted.map((c) => `${formatDecimal(c.mcg)} mcg`).join(' + ');
  // Vials from a quantity in micrograms need not be whole: shown to hundredths ("about" when rounded).
  const vialsText = (v: Decimal): string => {
    const shown = v.toDecimalPlaces(2, Dec.ROUND_HALF_UP);
    return shown.eq(v) ? formatDecimal(v) : `about ${formatDecimal(shown)}`;
  };
  return {
    orders: counted.map((c) => ({
      index: c.index,
      written: c.written,
      vials: vialsText(c.vials),
      mcg: formatDecimal(c.mcg),
    })),
    totalVials: vialsText(totalVials),
    totalMcg: formatDecimal(totalMcg),
    limits: { vials: rules.limits.vialsPerCycle, units: rules.limits.unitsPerCycle },
    arithmetic:
      `${parts} = ${formatDecimal(totalMcg)} mcg = ${formatDecimal(totalMcg)} billable units ` +
      `(${vialsText(totalVials)} vials of ${formatDecimal(strength)} mcg), over ${rules.limits.unitsPerCycle} units ` +
      `(${rules.limits.vialsPerCycle} vials) per cycle`,
  };
}
