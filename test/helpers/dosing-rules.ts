// The dosing rules both policies declare under `dosing:` in cds-services/<id>/policy.yaml (the label's schedules,
// contract section 7), held here so the dosing tests do not depend on the policy loader.
import type { DoseBand, DosingRules } from '../../src/dosing/types';

const fullCycle: DoseBand = { days: [1, 28], fixedMcgPerDay: 28, mcgPerM2PerDay: 15, capMcgPerDay: 28 };

export const dosingRules: DosingRules = {
  weightThresholdKg: 45,
  weightMaxAgeDays: { adult: 30, child: 7 },
  bsaMaxAgeDays: 30,
  bsaPlausibility: { maxRelativeDifference: 0.2, minM2: 0.1, maxM2: 3.0 },
  doseTolerance: 0.1,
  limits: { vialsPerCycle: 28, vialStrengthMcg: 35, unitsPerCycle: 980 },
  schedules: {
    'relapsed-refractory': {
      id: 'relapsed-refractory',
      cycles: [
        {
          from: 1,
          to: 1,
          lengthDays: 42,
          bands: [
            { days: [1, 7], fixedMcgPerDay: 9, mcgPerM2PerDay: 5, capMcgPerDay: 9 },
            { days: [8, 28], fixedMcgPerDay: 28, mcgPerM2PerDay: 15, capMcgPerDay: 28 },
          ],
        },
        { from: 2, to: 5, lengthDays: 42, bands: [fullCycle] },
        { from: 6, lengthDays: 84, bands: [fullCycle] },
      ],
    },
    mrd: { id: 'mrd', cycles: [{ from: 1, lengthDays: 42, bands: [fullCycle] }] },
    consolidation: { id: 'consolidation', cycles: [{ from: 1, lengthDays: 42, bands: [fullCycle] }] },
  },
  unitSynonyms: {
    mcg: 'ug',
    µg: 'ug',
    μg: 'ug',
    day: 'd',
    days: 'd',
    vial: '{vial}',
    vials: '{vial}',
    'm²': 'm2',
  },
};
