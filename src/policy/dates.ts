// Calendar dates as written (contract section 4: "dates compare as the calendar date written"). Everything here works
// on `YYYY`, `YYYY-MM` or `YYYY-MM-DD` strings with UTC arithmetic, so no result depends on the machine's time zone.

const DATE_PREFIX = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/;

/**
 * The calendar date written at the start of a FHIR date, dateTime or instant (`2024-05-01T23:30:00-05:00` gives
 * `2024-05-01`; `2024-05` stays partial); undefined for anything else.
 */
export function calendarDate(value: unknown): string | undefined {
  if (typeof value === 'string') {
    const match = DATE_PREFIX.exec(value.trim());
    return match ? match[0] : undefined;
  }
  // FHIRPath date literals (FP_Date and friends) carry the text they were written as.
  if (value && typeof value === 'object' && typeof (value as { asStr?: unknown }).asStr === 'string') {
    return calendarDate((value as { asStr: string }).asStr);
  }
  return undefined;
}

/** True for a complete `YYYY-MM-DD` date that exists in the calendar. */
export function isFullDate(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) {
    return false;
  }
  const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(y, m);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function format(year: number, month: number, day: number): string {
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

function parts(date: string): [number, number, number] {
  return [Number(date.slice(0, 4)), Number(date.slice(5, 7)), Number(date.slice(8, 10))];
}

/** `date` (a full date) plus `days` calendar days. */
export function addDays(date: string, days: number): string {
  const [y, m, d] = parts(date);
  const t = new Date(Date.UTC(y, m - 1, d + days));
  return format(t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate());
}

/** `date` (a full date) plus `months` calendar months, clamped to the end of a shorter month (Jan 31 + 1 = Feb 28/29). */
export function addMonthsClamped(date: string, months: number): string {
  const [y, m, d] = parts(date);
  const index = y * 12 + (m - 1) + months;
  const year = Math.floor(index / 12);
  const month = (index % 12) + 1;
  return format(year, month, Math.min(d, daysInMonth(year, month)));
}

/**
 * Completed calendar months from `birthDate` to `at` (both full dates): the largest n with
 * birthDate + n months (clamped) <= at. One month old on the same day of the next month, or that month's last day.
 */
export function ageInMonths(birthDate: string, at: string): number | undefined {
  if (!isFullDate(birthDate) || !isFullDate(at)) {
    return undefined;
  }
  const [by, bm] = parts(birthDate);
  const [ay, am] = parts(at);
  let months = (ay - by) * 12 + (am - bm);
  while (addMonthsClamped(birthDate, months) > at) {
    months -= 1;
  }
  while (addMonthsClamped(birthDate, months + 1) <= at) {
    months += 1;
  }
  return months;
}

/** The earlier of two dates as written (undefined ones ignored). */
export function earlierOf(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) {
    return b;
  }
  if (b === undefined) {
    return a;
  }
  return a <= b ? a : b;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function list(value: unknown): unknown[] {
  if (Array.isArray(value)) {
    return value;
  }
  return value === undefined || value === null ? [] : [value];
}

/**
 * The planned start written on a MedicationRequest (contract section 4): the earliest
 * `timing.repeat.boundsPeriod.start` among its dosage instructions, else `authoredOn`; undefined when neither
 * (partial dates such as `2024-06` are skipped).
 */
export function plannedStartOf(order: unknown): string | undefined {
  const o = record(order);
  if (!o) {
    return undefined;
  }
  // Only complete dates: a partial one cannot place the cycle, so the next source is used.
  const full = (value: unknown): string | undefined => {
    const date = calendarDate(value);
    return date !== undefined && isFullDate(date) ? date : undefined;
  };
  let earliest: string | undefined;
  for (const dosage of list(o.dosageInstruction)) {
    earliest = earlierOf(earliest, full(record(record(record(record(dosage)?.timing)?.repeat)?.boundsPeriod)?.start));
  }
  return earliest ?? full(o.authoredOn);
}

/**
 * The date a clinical fact is dated by (contract section 4): Observations by `effective[x]` (a dateTime, an instant
 * or a Period's start), else `issued`; Conditions by `onset[x]` (a dateTime or a Period's start), else
 * `recordedDate`; Immunizations by `occurrenceDateTime` only; MedicationRequests by their planned start; CarePlans
 * by `period.start`, else `created`. Undefined when the resource carries no such date.
 */
export function factDateOf(resource: unknown): string | undefined {
  const r = record(resource);
  if (!r) {
    return undefined;
  }
  switch (r.resourceType) {
    case 'Observation':
      return (
        calendarDate(r.effectiveDateTime) ??
        calendarDate(r.effectiveInstant) ??
        calendarDate(record(r.effectivePeriod)?.start) ??
        calendarDate(r.issued)
      );
    case 'Condition':
      return (
        calendarDate(r.onsetDateTime) ?? calendarDate(record(r.onsetPeriod)?.start) ?? calendarDate(r.recordedDate)
      );
    case 'Immunization':
      return calendarDate(r.occurrenceDateTime);
    case 'MedicationRequest':
      return plannedStartOf(r);
    case 'CarePlan':
      return calendarDate(record(r.period)?.start) ?? calendarDate(r.created);
    default:
      return undefined;
  }
}

/** Conditions without a date count at every date (contract section 4); other undated facts never count. */
export function countsUndated(resource: unknown): boolean {
  return record(resource)?.resourceType === 'Condition';
}
