// Code sets declared once in a policy (`codes:`), matched against codings. Codes compare without case and without
// dots, so ICD-10-CM written `C91.00`, `C9100` or `c91.00` is one code; NDC written forms are listed one by one.

export interface CodeSetEntry {
  /** A system URI; absent = any system (and codes written without one). */
  system?: string;
  codes?: readonly string[];
  /** Every code starting with one of these (e.g. ICD-10-CM `C83.3` for C83.30–C83.39, C83.390, C83.3A). */
  prefixes?: readonly string[];
}

/** The form codes are compared in. */
export function normalizeCode(code: string): string {
  return code.trim().toUpperCase().replace(/\./g, '');
}

function normalizeSystem(system: unknown): string {
  return typeof system === 'string' ? system.trim() : '';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The codings of a CodeableConcept (tolerating a single object where R4 says array), or the Coding itself. */
function codingsIn(value: unknown): Array<Record<string, unknown>> {
  if (!isObject(value)) {
    return [];
  }
  const coding = value.coding;
  if (Array.isArray(coding)) {
    return coding.filter(isObject);
  }
  if (isObject(coding)) {
    return [coding];
  }
  return typeof value.code === 'string' ? [value] : [];
}

export class CodeMatcher {
  private readonly exact = new Set<string>();
  private readonly anySystem = new Set<string>();
  private readonly prefixes: Array<{ system?: string; prefix: string }> = [];
  /** The listed (not prefixed) codes, as declared: used to check prefetch templates. */
  readonly listed: ReadonlyArray<{ system?: string; code: string }>;
  /** The entries this set was built from (systems resolved). */
  readonly entries: readonly CodeSetEntry[];

  /** One set matching whatever any of `sets` matches (the routed services govern by the policies' drug codes). */
  static union(sets: readonly CodeMatcher[]): CodeMatcher {
    return new CodeMatcher(sets.flatMap((s) => s.entries));
  }

  constructor(entries: readonly CodeSetEntry[]) {
    this.entries = entries.map((e) => ({
      ...(e.system !== undefined ? { system: e.system } : {}),
      ...(e.codes !== undefined ? { codes: [...e.codes] } : {}),
      ...(e.prefixes !== undefined ? { prefixes: [...e.prefixes] } : {}),
    }));
    const listed: Array<{ system?: string; code: string }> = [];
    for (const entry of entries) {
      const system = entry.system === undefined ? undefined : normalizeSystem(entry.system);
      for (const code of entry.codes ?? []) {
        listed.push(system === undefined ? { code } : { system, code });
        if (system === undefined) {
          this.anySystem.add(normalizeCode(code));
        } else {
          this.exact.add(`${system}|${normalizeCode(code)}`);
        }
      }
      for (const prefix of entry.prefixes ?? []) {
        this.prefixes.push(
          system === undefined ? { prefix: normalizeCode(prefix) } : { system, prefix: normalizeCode(prefix) }
        );
      }
    }
    this.listed = listed;
  }

  /** True when every code is listed with a system (no prefixes, no any-system codes): an index lookup suffices. */
  get exactOnly(): boolean {
    return this.anySystem.size === 0 && this.prefixes.length === 0;
  }

  /** The index keys (`system|CODE`) of the listed codes. */
  get keys(): string[] {
    return [...this.exact];
  }

  /** True when (system, code) is in the set. */
  matches(system: unknown, code: unknown): boolean {
    if (typeof code !== 'string' || code.trim() === '') {
      return false;
    }
    const c = normalizeCode(code);
    const s = normalizeSystem(system);
    if (this.anySystem.has(c) || this.exact.has(`${s}|${c}`)) {
      return true;
    }
    return this.prefixes.some((p) => (p.system === undefined || p.system === s) && c.startsWith(p.prefix));
  }

  /** True when a CodeableConcept or Coding has a coding in the set; a bare string is a code without a system. */
  matchesConcept(value: unknown): boolean {
    if (typeof value === 'string') {
      return this.matches(undefined, value);
    }
    return codingsIn(value).some((c) => this.matches(c.system, c.code));
  }
}
