// Dose and quantity checking types (contract sections 6 and 7). The tables are declared in each policy file
// (`dosing:`), never in code; src/dosing turns them and the patient's data into a DoseAssessment.
import type { MedicationRequest, Observation } from 'fhir/r4';

/** One dosing band of a cycle: infusion days [first, last] (1-based, inclusive) at one daily dose. */
export interface DoseBand {
  days: [number, number];
  /** Fixed daily dose at or above the weight threshold, in mcg/day. */
  fixedMcgPerDay: number;
  /** BSA-based rate below the weight threshold, in mcg/m2/day. */
  mcgPerM2PerDay: number;
  /** Cap on the BSA-based dose, in mcg/day. */
  capMcgPerDay: number;
}

/** Cycles `from`..`to` (inclusive; `to` absent = open-ended) share a length and bands. */
export interface CycleSpec {
  from: number;
  to?: number;
  lengthDays: number;
  bands: DoseBand[];
}

export interface DoseSchedule {
  id: string;
  /** Whether cycle 1 is a step-up (more than one band): demanded only when the indication is met. */
  cycles: CycleSpec[];
}

export interface QuantityLimits {
  vialsPerCycle: number;
  vialStrengthMcg: number;
  /** Billable HCPCS units per cycle (J9039: 1 unit = 1 mcg). */
  unitsPerCycle: number;
}

export interface DosingRules {
  /** At or above (exactly equal included): fixed dose. Below: BSA-based. */
  weightThresholdKg: number;
  /** A weight older than this many days at the planned start is stale (adults / under 18). */
  weightMaxAgeDays: { adult: number; child: number };
  /** A charted BSA counts when dated within this many days before the planned start. */
  bsaMaxAgeDays: number;
  /** A charted BSA is implausible when more than this fraction away from Mosteller, or outside the range. */
  bsaPlausibility: { maxRelativeDifference: number; minM2: number; maxM2: number };
  /** Tolerance: a correction is due when |ordered - expected| > tolerance x expected. */
  doseTolerance: number;
  limits: QuantityLimits;
  schedules: Record<string, DoseSchedule>;
  /** Unit-text synonyms applied per unit part before UCUM parsing (contract section 7). */
  unitSynonyms: Record<string, string>;
}

export interface DoseInput {
  /** The order as received (never modified). */
  order: MedicationRequest;
  /** YYYY-MM-DD, contract section 4. */
  plannedStart: string;
  /** This order's cycle number (prior cycles + 1). */
  cycle: number;
  /** The best pathway's schedule; absent when no pathway applies (an exclusion decided): cap check only. */
  schedule?: DoseSchedule;
  /** Whether the best pathway's indication criterion is met (unknown counts as not): else cap check only. */
  indicationMet: boolean;
  rules: DosingRules;
  patient: {
    birthDate?: string;
    /** Observations already filtered by code (29463-7, 8302-2, 8277-6) and status; any date. */
    weights: Observation[];
    heights: Observation[];
    bsas: Observation[];
  };
}

/** What a person must do about the dose that is not a correction (contract section 6 dose-check prompts). */
export interface DosePrompt {
  kind: 'stale-weight' | 'missing-weight' | 'missing-height' | 'implausible-bsa' | 'unreadable-dose';
  text: string;
}

export interface DoseAssessment {
  /** Expected daily doses per band, when a weight allows a verdict. */
  expected?: {
    basis: 'fixed' | 'bsa';
    cycleLengthDays?: number;
    bands: Array<{ days: [number, number]; mcgPerDay: string }>;
  };
  /** Each reason a correction is due (human text, no markdown). */
  findings: string[];
  prompts: DosePrompt[];
  /**
   * Set when the dose check itself failed (a bug in src/dosing, which throws; the engine logs it): nothing is known
   * about the dose, and the dose-check card asks a person to check it by hand.
   */
  unchecked?: true;
  /**
   * Plain-text lines showing the arithmetic (weight, height, BSA and source, rate, cap, rounding, vials, units).
   * They quote the request (units as written), so whoever renders them as markdown escapes them.
   */
  arithmetic: string[];
  /** Present exactly when a correction is due: the order as received with every correction applied. */
  correction?: {
    resource: MedicationRequest;
    /** Card summary (under 140 characters) stating the expected dose or quantity. */
    summary: string;
  };
  /** CRD `allowed-period` (planned start .. start + cycle length - 1) when the supply duration is wrong. */
  allowedPeriod?: { start: string; end: string };
}
