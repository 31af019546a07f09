// Shared declarations (contract section 1, "More policies"; cds-services/README.md "Libraries"): a folder of
// CDS_SERVICES_DIR whose name starts with `_` holds a `library.yaml` of declarations several policies share (systems,
// code sets, collections, facts, criteria, documentation items, the drug, the dose observations and the dosing block).
// A policy imports libraries by name (`imports: [_blinatumomab-label]`) and states only what is its own: its own
// declarations override the imported ones of the same name (a criterion or documentation item it lists by the id of
// an imported one is that one, with the keys it writes overriding). Of the imports, a policy keeps only what it uses;
// every declaration a policy makes and nothing uses, and every library declaration no importing policy uses, is
// refused at load, naming it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { parse as parseYaml } from 'yaml';
import { analyzeExpression } from './fhirpath';
import schema from './policy.schema.json';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A library's file name inside its folder. */
export const LIBRARY_FILE = 'library.yaml';

/** The kinds of named declarations a library may hold, as `kind.name` keys say them. */
export type DeclarationKind =
  'systems' | 'codes' | 'collections' | 'facts' | 'criteria' | 'documentation' | 'dosing.schedules' | 'prefetch';

export interface Library {
  /** The folder name (`_blinatumomab-label`). */
  name: string;
  file: string;
  raw: Json;
  /** Every named declaration, `kind.name` (`codes.cd19Positive`, `criteria.cd19-positive`), in file order. */
  declarations: string[];
}

const properties = schema.properties as Record<string, Json>;
const listItems = (key: 'criteria' | 'documentation'): Json => {
  const items = (properties[key] as { items: Json }).items;
  return { ...items, required: ['id'] };
};

/** The library schema: the policy schema's declarations, criteria and documentation items needing only their id. */
const LIBRARY_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://example.org/cds-services/library.schema.json',
  type: 'object',
  additionalProperties: false,
  properties: {
    description: { $ref: '#/definitions/text' },
    systems: properties.systems,
    codes: { ...properties.codes, minProperties: 0 },
    collections: properties.collections,
    facts: properties.facts,
    criteria: { type: 'array', items: listItems('criteria') },
    documentation: { type: 'array', items: listItems('documentation') },
    drug: properties.drug,
    doseObservations: properties.doseObservations,
    dosing: properties.dosing,
  },
  definitions: schema.definitions,
};

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
const validateLibrary = ajv.compile(LIBRARY_SCHEMA);

function fail(file: string, where: string, problem: string): never {
  throw new Error(`${file}: ${where}: ${problem}`);
}

function idsOf(list: unknown): string[] {
  return Array.isArray(list) ? list.filter(isObject).flatMap((e) => (typeof e.id === 'string' ? [e.id] : [])) : [];
}

function keysOf(map: unknown): string[] {
  return isObject(map) ? Object.keys(map) : [];
}

/** Every named declaration of a policy or library document, `kind.name`. */
function declarationsOf(raw: Json): string[] {
  const dosing = isObject(raw.dosing) ? raw.dosing : {};
  return [
    ...keysOf(raw.systems).map((k) => `systems.${k}`),
    ...keysOf(raw.codes).map((k) => `codes.${k}`),
    ...keysOf(raw.collections).map((k) => `collections.${k}`),
    ...keysOf(raw.facts).map((k) => `facts.${k}`),
    ...idsOf(raw.criteria).map((k) => `criteria.${k}`),
    ...idsOf(raw.documentation).map((k) => `documentation.${k}`),
    ...keysOf(dosing.schedules).map((k) => `dosing.schedules.${k}`),
  ];
}

/**
 * Reads and checks one library folder.
 * @param folder - `<services dir>/_<name>`, holding library.yaml.
 */
export function loadLibrary(folder: string): Library {
  const file = path.join(folder, LIBRARY_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail(file, 'library', code === 'ENOENT' ? 'missing' : `cannot be read (${code ?? 'error'})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (e) {
    return fail(file, 'library', `not valid YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!validateLibrary(raw) || !isObject(raw)) {
    const problems = (validateLibrary.errors ?? [])
      .filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'allOf')
      .slice(0, 6)
      .map((e) => {
        const extra =
          e.keyword === 'additionalProperties'
            ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})`
            : '';
        return `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${extra}`;
      });
    return fail(file, 'schema', problems.join('; ') || 'does not match the library schema');
  }
  for (const kind of ['criteria', 'documentation'] as const) {
    const ids = idsOf(raw[kind]);
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    if (dup !== undefined) {
      fail(file, `${kind}.${dup}`, 'declared twice');
    }
  }
  return { name: path.basename(folder), file, raw, declarations: declarationsOf(raw) };
}

/** A policy document with its imports merged in, and where each named declaration came from. */
export interface ComposedPolicy {
  raw: Json;
  /** `kind.name` -> the library it was imported from; absent = the policy's own (or its override of an import). */
  importedFrom: Map<string, Library>;
}

function mergeMap(
  kind: string,
  own: unknown,
  libraries: readonly Library[],
  read: (lib: Json) => unknown,
  importedFrom: Map<string, Library>,
  file: string
): Json | undefined {
  const merged: Json = {};
  let any = false;
  for (const lib of libraries) {
    const map = read(lib.raw);
    if (!isObject(map)) {
      continue;
    }
    for (const [name, value] of Object.entries(map)) {
      const other = importedFrom.get(`${kind}.${name}`);
      if (other && other !== lib) {
        fail(file, `imports`, `${kind}.${name} is declared by both ${other.name} and ${lib.name}`);
      }
      merged[name] = value;
      importedFrom.set(`${kind}.${name}`, lib);
      any = true;
    }
  }
  if (isObject(own)) {
    for (const [name, value] of Object.entries(own)) {
      merged[name] = value;
      importedFrom.delete(`${kind}.${name}`);
    }
    return merged;
  }
  return any ? merged : (own as Json | undefined);
}

function mergeList(
  kind: 'criteria' | 'documentation',
  own: unknown,
  libraries: readonly Library[],
  importedFrom: Map<string, Library>
): unknown {
  if (!Array.isArray(own)) {
    return own;
  }
  return own.map((entry: unknown) => {
    if (!isObject(entry) || typeof entry.id !== 'string') {
      return entry;
    }
    for (const lib of libraries) {
      const found = (Array.isArray(lib.raw[kind]) ? (lib.raw[kind] as unknown[]) : []).find(
        (e): e is Json => isObject(e) && e.id === entry.id
      );
      if (found) {
        // The policy names the imported one: it is used (the library's), with the policy's keys overriding.
        importedFrom.set(`${kind}.${entry.id}`, lib);
        return { ...found, ...entry };
      }
    }
    return entry;
  });
}

/**
 * Merges a policy's imports into it (the policy's own keys win).
 * @param own - the policy document as read.
 * @param file - its path, for messages.
 * @param libraries - the libraries it imports, in `imports` order.
 */
export function composePolicy(own: Json, file: string, libraries: readonly Library[]): ComposedPolicy {
  const importedFrom = new Map<string, Library>();
  if (libraries.length === 0) {
    return { raw: own, importedFrom };
  }
  const raw: Json = { ...own };
  const set = (key: string, value: unknown): void => {
    if (value === undefined) {
      delete raw[key];
    } else {
      raw[key] = value;
    }
  };
  for (const kind of ['systems', 'codes', 'collections', 'facts'] as const) {
    set(
      kind,
      mergeMap(kind, own[kind], libraries, (lib) => lib[kind], importedFrom, file)
    );
  }
  for (const kind of ['criteria', 'documentation'] as const) {
    set(kind, mergeList(kind, own[kind], libraries, importedFrom));
  }
  // Whole blocks, shallow: the policy's keys win.
  for (const key of ['drug', 'doseObservations'] as const) {
    const imported = libraries.map((lib) => lib.raw[key]).filter(isObject);
    if (imported.length > 0) {
      set(key, Object.assign({}, ...imported, isObject(own[key]) ? own[key] : {}) as Json);
    }
  }
  const dosings = libraries.map((lib) => lib.raw.dosing).filter(isObject);
  if (dosings.length > 0) {
    const ownDosing = isObject(own.dosing) ? own.dosing : {};
    const schedules = mergeMap(
      'dosing.schedules',
      ownDosing.schedules,
      libraries,
      (lib) => (isObject(lib.dosing) ? lib.dosing.schedules : undefined),
      importedFrom,
      file
    );
    const synonyms = [...dosings, ownDosing].map((d) => d.unitSynonyms).filter(isObject);
    set('dosing', {
      ...(Object.assign({}, ...dosings, ownDosing) as Json),
      ...(schedules !== undefined ? { schedules } : {}),
      ...(synonyms.length > 0 ? { unitSynonyms: Object.assign({}, ...synonyms) as Json } : {}),
    });
  }
  return { raw, importedFrom };
}

/** The resource type a prefetch template reads. */
function templateType(template: string): string | undefined {
  return /^\/?([A-Z][A-Za-z]+)(?:[/?]|$)/.exec(template)?.[1];
}

/** Resource types every policy reads whatever it declares (governance, routing, prior cycles, the patient). */
const ALWAYS_READ = ['Coverage', 'Patient', 'MedicationRequest'];

/**
 * Every named declaration the policy uses (`kind.name`): what its criteria, exclusions and pathways read, through
 * the facts, collections and code sets, plus the drug, the dose observations and the systems their code sets name.
 * Undefined when an expression does not parse (compiling it reports that first).
 * @param raw - the composed policy, valid against policy.schema.json.
 */
export function usedDeclarations(raw: Json): Set<string> | undefined {
  const used = new Set<string>();
  const facts = isObject(raw.facts) ? (raw.facts as Record<string, string>) : {};
  const collections = isObject(raw.collections) ? (raw.collections as Record<string, Json>) : {};
  const codes = isObject(raw.codes) ? (raw.codes as Record<string, unknown[]>) : {};
  const systems = isObject(raw.systems) ? raw.systems : {};
  const pending: string[] = [];
  const read = (source: unknown): boolean => {
    if (typeof source !== 'string') {
      return true;
    }
    let analysis: ReturnType<typeof analyzeExpression>;
    try {
      analysis = analyzeExpression(source);
    } catch {
      return false;
    }
    for (const name of analysis.variables) {
      if (Object.prototype.hasOwnProperty.call(facts, name) && !used.has(`facts.${name}`)) {
        used.add(`facts.${name}`);
        pending.push(facts[name] as string);
      }
      if (Object.prototype.hasOwnProperty.call(collections, name)) {
        used.add(`collections.${name}`);
      }
    }
    for (const call of analysis.calls) {
      if (call.name === 'coded' && call.literal !== undefined) {
        used.add(`codes.${call.literal}`);
      }
    }
    return true;
  };
  const criteria = Array.isArray(raw.criteria) ? raw.criteria.filter(isObject) : [];
  const sources: unknown[] = [
    ...criteria.flatMap((c) => [
      c.evidence,
      c.status,
      ...(Array.isArray(c.documentationWhen) ? c.documentationWhen.filter(isObject).map((d) => d.when) : []),
    ]),
    ...(Array.isArray(raw.exclusions) ? raw.exclusions.filter(isObject).map((x) => x.when) : []),
  ];
  for (const source of sources) {
    if (!read(source)) {
      return undefined;
    }
  }
  for (let source = pending.pop(); source !== undefined; source = pending.pop()) {
    if (!read(source)) {
      return undefined;
    }
  }
  for (const id of idsOf(raw.criteria)) {
    used.add(`criteria.${id}`);
  }
  for (const id of idsOf(raw.documentation)) {
    used.add(`documentation.${id}`);
  }
  const types = new Set<string>([...ALWAYS_READ, 'Observation']);
  for (const [name, collection] of Object.entries(collections)) {
    if (used.has(`collections.${name}`)) {
      types.add(String(collection.resourceType));
      if (typeof collection.codes === 'string') {
        used.add(`codes.${collection.codes}`);
      }
    }
  }
  const drug = isObject(raw.drug) ? raw.drug : {};
  if (typeof drug.codes === 'string') {
    used.add(`codes.${drug.codes}`);
  }
  for (const name of Object.values(isObject(raw.doseObservations) ? raw.doseObservations : {})) {
    used.add(`codes.${String(name)}`);
  }
  for (const pathway of Array.isArray(raw.pathways) ? raw.pathways.filter(isObject) : []) {
    used.add(`dosing.schedules.${String(pathway.schedule)}`);
  }
  const aliases = new Set<unknown>([
    isObject(drug.billingCode) ? drug.billingCode.system : undefined,
    ...(Array.isArray(raw.payers) ? raw.payers.filter(isObject).map((p) => p.system) : []),
  ]);
  for (const [name, entries] of Object.entries(codes)) {
    if (used.has(`codes.${name}`)) {
      for (const entry of entries.filter(isObject)) {
        aliases.add(entry.system);
      }
    }
  }
  for (const alias of Object.keys(systems)) {
    if (aliases.has(alias)) {
      used.add(`systems.${alias}`);
    }
  }
  for (const [key, template] of Object.entries(isObject(raw.prefetch) ? raw.prefetch : {})) {
    const type = typeof template === 'string' ? templateType(template) : undefined;
    if (type === undefined || types.has(type)) {
      used.add(`prefetch.${key}`);
    }
  }
  return used;
}

/** `kind.name` of every named declaration of a composed policy, prefetch keys included. */
export function declaredIn(raw: Json): string[] {
  return [...declarationsOf(raw), ...keysOf(raw.prefetch).map((k) => `prefetch.${k}`)];
}

/** The composed policy without the imported declarations it does not use. */
export function withoutUnusedImports(composed: ComposedPolicy, used: ReadonlySet<string>): Json {
  const raw: Json = { ...composed.raw };
  const unused = (kind: string, name: string): boolean =>
    composed.importedFrom.has(`${kind}.${name}`) && !used.has(`${kind}.${name}`);
  for (const kind of ['systems', 'codes', 'collections', 'facts'] as const) {
    if (isObject(raw[kind])) {
      raw[kind] = Object.fromEntries(Object.entries(raw[kind]).filter(([name]) => !unused(kind, name)));
    }
  }
  if (isObject(raw.dosing) && isObject(raw.dosing.schedules)) {
    raw.dosing = {
      ...raw.dosing,
      schedules: Object.fromEntries(
        Object.entries(raw.dosing.schedules).filter(([name]) => !unused('dosing.schedules', name))
      ),
    };
  }
  return raw;
}
