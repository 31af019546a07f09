// Da Vinci CRD configuration options (CRD STU2 2.0.1 "deviations": davinci-crd.configuration-options) and reading
// a request's `extension["davinci-crd.configuration"]` (contract section 6).

export interface CrdConfiguration {
  /** The coverage-information system action, coverage and documentation cards. */
  coverageInfo: boolean;
  /** Correction and dose-check cards. */
  limits: boolean;
  maxCards: number;
}

export const CRD_CONFIGURATION_OPTIONS = [
  {
    code: 'coverage-info',
    type: 'boolean',
    name: 'Coverage information',
    description:
      'Return the coverage-information system action, the coverage card and the documentation card for each governed order.',
    default: true,
  },
  {
    code: 'limits',
    type: 'boolean',
    name: 'Dose and quantity limits',
    description: 'Return dose and quantity correction cards and dose-check prompts for each governed order.',
    default: true,
  },
  {
    code: 'max-cards',
    type: 'integer',
    name: 'Maximum cards',
    description: 'The largest number of cards returned in one response (0 returns none).',
    default: 10,
  },
] as const;

/** Reads the request's configuration; unknown options and ill-typed values are ignored (CRD K-3). */
export function readCrdConfiguration(extension: unknown): CrdConfiguration {
  const result: CrdConfiguration = { coverageInfo: true, limits: true, maxCards: 10 };
  if (!extension || typeof extension !== 'object') {
    return result;
  }
  const config = (extension as Record<string, unknown>)['davinci-crd.configuration'];
  if (!config || typeof config !== 'object' || Array.isArray(config)) {
    return result;
  }
  const c = config as Record<string, unknown>;
  if (typeof c['coverage-info'] === 'boolean') {
    result.coverageInfo = c['coverage-info'];
  }
  if (typeof c['limits'] === 'boolean') {
    result.limits = c['limits'];
  }
  const max = c['max-cards'];
  if (typeof max === 'number' && Number.isInteger(max) && max >= 0) {
    result.maxCards = max;
  }
  return result;
}
