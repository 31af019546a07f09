// Prefetch template tokens (CDS Hooks 2.0, "Prefetch tokens"): `{{context.<field>}}` for root-level primitive
// context fields, the user tokens derived from `context.userId`, and the sandbox's `{{today()}}` date tokens.
// A template still holding a token after filling cannot be fetched (the sandbox skips such templates too).

export interface FillOptions {
  /** The UTC calendar date of the call (YYYY-MM-DD), for `{{today()}}`; without it date tokens stay unresolved. */
  today?: string;
}

export type FilledTemplate = { ok: true; url: string } | { ok: false; unresolved: string[] };

const TOKEN = /\{\{\s*([^{}]*?)\s*\}\}/g;

const USER_TOKENS: Record<string, string> = {
  userPractitionerId: 'Practitioner',
  userPractitionerRoleId: 'PractitionerRole',
  userPatientId: 'Patient',
  userRelatedPersonId: 'RelatedPerson',
};

function isPrimitive(value: unknown): value is string | number | boolean {
  return (
    (typeof value === 'string' && value !== '') ||
    (typeof value === 'number' && Number.isFinite(value)) ||
    typeof value === 'boolean'
  );
}

/** `YYYY-MM-DD` plus `days` (negative allowed), in UTC calendar arithmetic. */
function addDays(date: string, days: number): string | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) {
    return undefined;
  }
  const time = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) + days * 86_400_000;
  return Number.isFinite(time) ? new Date(time).toISOString().slice(0, 10) : undefined;
}

/** The value of one token expression, or undefined when it cannot be resolved. */
function resolveToken(expression: string, context: unknown, opts: FillOptions): string | undefined {
  const contextField = /^context\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expression);
  if (contextField) {
    const value: unknown =
      context && typeof context === 'object'
        ? (context as Record<string, unknown>)[contextField[1] as string]
        : undefined;
    return isPrimitive(value) ? String(value) : undefined;
  }
  const userType = USER_TOKENS[expression];
  if (userType !== undefined) {
    const userId: unknown =
      context && typeof context === 'object' ? (context as Record<string, unknown>).userId : undefined;
    if (typeof userId === 'string' && userId.startsWith(`${userType}/`)) {
      const id = userId.slice(userType.length + 1);
      return id !== '' && !id.includes('/') ? id : undefined;
    }
    return undefined;
  }
  const today = /^today\(\)\s*(?:([+-])\s*(\d{1,5})\s*days?)?$/.exec(expression);
  if (today && opts.today !== undefined) {
    const offset = today[2] === undefined ? 0 : Number(today[2]) * (today[1] === '-' ? -1 : 1);
    return addDays(opts.today, offset);
  }
  return undefined;
}

/**
 * Fills a prefetch template from the hook context. Values are URL-encoded (a patient id cannot add a path segment
 * or a search parameter). Unknown tokens, context fields that are absent or not primitives, and user tokens for
 * another kind of user leave the template unresolved.
 *
 * @param template - e.g. `Coverage?patient={{context.patientId}}&status=active`.
 * @param context - the request's `context`.
 * @param opts - the call's date for `{{today()}}` tokens.
 */
export function fillPrefetchTemplate(template: string, context: unknown, opts: FillOptions = {}): FilledTemplate {
  const unresolved: string[] = [];
  const url = template.replace(TOKEN, (whole: string, expression: string) => {
    const value = resolveToken(expression, context, opts);
    // A value that is not well-formed Unicode (a lone surrogate) cannot be URL-encoded: the token stays unresolved.
    const encoded = value === undefined ? undefined : encodeOrUndefined(value);
    if (encoded === undefined) {
      unresolved.push(whole);
      return whole;
    }
    return encoded;
  });
  if (unresolved.length > 0 || url.includes('{{') || url.includes('}}')) {
    return { ok: false, unresolved: unresolved.length > 0 ? unresolved : [url] };
  }
  return { ok: true, url };
}

function encodeOrUndefined(value: string): string | undefined {
  try {
    return encodeURIComponent(value);
  } catch {
    return undefined;
  }
}
