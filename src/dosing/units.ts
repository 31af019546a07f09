// UCUM reading and exact unit conversion (contract section 7; data profile sections 1 and 2).
// The UCUM library (@lhncbc/ucum-lhc) decides which units are commensurable and gives the conversion factor;
// every multiplication and comparison is then done in decimal, never in floating point.
import { Decimal } from 'decimal.js';

/** Decimal arithmetic for dosing: enough precision that products of charted values stay exact. */
export const Dec = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_UP });

export const UCUM_SYSTEM = 'http://unitsofmeasure.org';

/** The part of @lhncbc/ucum-lhc we use (the package ships no types). */
interface UcumConversion {
  status: string;
  toVal: number | null;
}
interface UcumUtils {
  convertUnitTo(fromUnitCode: string, fromVal: number, toUnitCode: string): UcumConversion;
}
interface UcumPackage {
  UcumLhcUtils: { getInstance(): UcumUtils };
}

let utils: UcumUtils | undefined;
function ucum(): UcumUtils {
  if (!utils) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pkg = require('@lhncbc/ucum-lhc') as UcumPackage;
    utils = pkg.UcumLhcUtils.getInstance();
  }
  return utils;
}

/** Longest unit string handed to the UCUM parser (anything longer is unreadable). */
const MAX_UNIT_LENGTH = 64;
/** Cached factors (bounded: unit strings come from requests). */
const FACTOR_CACHE_LIMIT = 1000;
const factorCache = new Map<string, Decimal | null>();

/**
 * The factor that converts `fromCode` into `toCode` (value in `toCode` = value in `fromCode` x factor), or undefined
 * when either is not UCUM or they are not commensurable. The library's floating-point factor is cleaned to 12
 * significant digits (mg -> ug comes back as 1000.0000000000001); real conversion factors have fewer digits.
 * A target carrying an annotation (`{vial}`) is reached only from exactly itself: UCUM treats every annotation as 1.
 * @param fromCode - a UCUM code
 * @param toCode - a UCUM code
 */
export function conversionFactor(fromCode: string, toCode: string): Decimal | undefined {
  if (!usableUnitString(fromCode) || !usableUnitString(toCode)) {
    return undefined;
  }
  if (toCode.includes('{') && fromCode !== toCode) {
    return undefined;
  }
  const key = `${fromCode}\u0000${toCode}`;
  const cached = factorCache.get(key);
  if (cached !== undefined) {
    return cached ?? undefined;
  }
  let factor: Decimal | null = null;
  try {
    const result = ucum().convertUnitTo(fromCode, 1, toCode);
    if (result.status === 'succeeded' && typeof result.toVal === 'number' && Number.isFinite(result.toVal)) {
      const raw = new Dec(result.toVal).toSignificantDigits(12);
      factor = raw.gt(0) ? raw : null;
    }
  } catch {
    factor = null;
  }
  if (factorCache.size >= FACTOR_CACHE_LIMIT) {
    factorCache.clear();
  }
  factorCache.set(key, factor);
  return factor ?? undefined;
}

/** True when `code` is a UCUM expression the library parses. */
export function isUcumUnit(code: string): boolean {
  return conversionFactor(code, code) !== undefined;
}

/**
 * `value` expressed in `targetUnit`, exactly; undefined when the units do not convert.
 * @param value - the amount (a finite number or a decimal)
 * @param unitCode - its UCUM unit
 * @param targetUnit - the UCUM unit wanted
 */
export function toQuantityIn(value: number | Decimal, unitCode: string, targetUnit: string): Decimal | undefined {
  const amount = decimalOf(value);
  if (!amount) {
    return undefined;
  }
  const factor = conversionFactor(unitCode, targetUnit);
  return factor ? amount.times(factor) : undefined;
}

/**
 * Unit text rewritten through the synonym list, part by part (the parts of `mcg/(m².day)` are `mcg`, `m²`, `day`).
 * @param text - unit text as written
 * @param synonyms - the policy's synonym list
 */
export function applyUnitSynonyms(text: string, synonyms: Readonly<Record<string, string>>): string {
  return text
    .trim()
    .split(/([/.()])/)
    .map((part) => {
      if (Object.prototype.hasOwnProperty.call(synonyms, part)) {
        return synonyms[part] ?? part;
      }
      const lower = part.toLowerCase();
      return Object.prototype.hasOwnProperty.call(synonyms, lower) ? (synonyms[lower] ?? part) : part;
    })
    .join('');
}

/** The unit-bearing fields of a FHIR Quantity (or Duration), loosely typed: requests may carry anything. */
export interface QuantityLike {
  value?: unknown;
  unit?: unknown;
  code?: unknown;
  system?: unknown;
  comparator?: unknown;
}

/**
 * The UCUM code of a quantity (contract section 7): `code` when `system` is UCUM and it parses; else the `unit`
 * text through the synonym list when that parses; else undefined (unreadable).
 * @param quantity - a FHIR Quantity
 * @param synonyms - the policy's synonym list
 */
export function readUnit(
  quantity: QuantityLike | undefined,
  synonyms: Readonly<Record<string, string>>
): string | undefined {
  if (!quantity || typeof quantity !== 'object') {
    return undefined;
  }
  if (quantity.system === UCUM_SYSTEM && typeof quantity.code === 'string' && isUcumUnit(quantity.code.trim())) {
    return quantity.code.trim();
  }
  if (typeof quantity.unit === 'string') {
    const text = applyUnitSynonyms(quantity.unit, synonyms);
    if (isUcumUnit(text)) {
      return text;
    }
  }
  return undefined;
}

/**
 * A quantity's value in `targetUnit`, exactly; undefined when the value or the unit cannot be read, or a comparator
 * makes the value inexact.
 * @param quantity - a FHIR Quantity
 * @param targetUnit - the UCUM unit wanted
 * @param synonyms - the policy's synonym list
 */
export function quantityIn(
  quantity: QuantityLike | undefined,
  targetUnit: string,
  synonyms: Readonly<Record<string, string>>
): Decimal | undefined {
  if (!quantity || typeof quantity !== 'object' || quantity.comparator !== undefined) {
    return undefined;
  }
  const value = decimalOf(quantity.value);
  const unit = readUnit(quantity, synonyms);
  if (!value || unit === undefined) {
    return undefined;
  }
  return toQuantityIn(value, unit, targetUnit);
}

/** A finite JSON number (or decimal) as a Decimal; anything else undefined. */
export function decimalOf(value: unknown): Decimal | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return new Dec(value);
  }
  if (Decimal.isDecimal(value)) {
    const d = new Dec(value);
    return d.isFinite() ? d : undefined;
  }
  return undefined;
}

/** Rounded half up to `places` decimals. */
export function roundHalfUp(value: Decimal, places: number): Decimal {
  return value.toDecimalPlaces(places, Decimal.ROUND_HALF_UP);
}

/** Plain decimal text without exponent or trailing zeros (28, 5.3, 69.85322498). */
export function formatDecimal(value: Decimal): string {
  return new Dec(value).toFixed();
}

/** A short, human form of a quantity as written (value and unit text or code), for arithmetic lines and prompts. */
export function describeQuantity(quantity: QuantityLike | undefined): string {
  if (!quantity || typeof quantity !== 'object') {
    return 'no quantity';
  }
  const value = decimalOf(quantity.value);
  const unit =
    typeof quantity.unit === 'string' && quantity.unit.trim() !== ''
      ? quantity.unit.trim()
      : typeof quantity.code === 'string'
        ? quantity.code.trim()
        : '';
  const shownUnit = unit.length > MAX_UNIT_LENGTH ? `${unit.slice(0, MAX_UNIT_LENGTH)}…` : unit;
  const shownValue = value ? formatDecimal(value) : 'no value';
  return shownUnit ? `${shownValue} ${shownUnit}` : `${shownValue} (no unit)`;
}

function usableUnitString(code: string): boolean {
  // The library prints to the console for blank spaces; such strings are never UCUM anyway.
  return code.length > 0 && code.length <= MAX_UNIT_LENGTH && !/\s/.test(code);
}
