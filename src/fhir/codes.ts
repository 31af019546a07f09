// Small, shared coding helpers (a leaf module: used by hooks/ for governance and policy/ for prior cycles).
import type { CodeableConcept, Coding } from 'fhir/r4';

export interface CodeRef {
  system: string;
  code: string;
}

/** The codings of a CodeableConcept, tolerating a non-array `coding` (real clients send odd shapes). */
export function codingsOf(concept: CodeableConcept | undefined | null): Coding[] {
  const coding: unknown = concept?.coding;
  if (Array.isArray(coding)) {
    return coding.filter((c): c is Coding => !!c && typeof c === 'object');
  }
  return coding && typeof coding === 'object' ? [coding] : [];
}

/** True when any coding of `concept` equals one of `codes` (system and code, exactly). */
export function hasAnyCode(concept: CodeableConcept | undefined | null, codes: ReadonlySet<string>): boolean {
  return codingsOf(concept).some((c) => typeof c.code === 'string' && codes.has(codeKey(c.system ?? '', c.code)));
}

/** The key used in code sets: `system|code`. */
export function codeKey(system: string, code: string): string {
  return `${system}|${code}`;
}

export function codeSet(codes: readonly CodeRef[]): ReadonlySet<string> {
  return new Set(codes.map((c) => codeKey(c.system, c.code)));
}
