// Loads every service folder of CDS_SERVICES_DIR (house style 3.4): YAML validated against policy.schema.json,
// every FHIRPath expression compiled once and dry-run once, cross-references checked, cases.yaml present and covering
// every criterion, the result frozen. The first bad file stops start-up with an Error naming the file, the rule and
// the expression. No policy contains code: a new payer policy is a new folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import type { DoseSchedule, DosingRules } from '../dosing/types';
import { CRD_CONFIGURATION_OPTIONS } from '../hooks/crd-configuration';
import type { ServiceDefinition } from '../hooks/types';
import { CodeMatcher, type CodeSetEntry } from './code-sets';
import {
  BUILTIN_VARIABLES,
  ORDER_DEPENDENCIES,
  type CompiledCollection,
  type CompiledCriterion,
  type CompiledExclusion,
  type CompiledFact,
  type CompiledItem,
  type CompiledPathway,
  type CompiledPolicy,
  type OrderDependency,
} from './compiled';
import {
  CUSTOM_FUNCTIONS,
  FHIRPATH_BUILTIN_VARIABLES,
  analyzeExpression as analyze,
  checkBuiltinCall,
  compileExpression,
  createFunctionTable,
  isValidUcum,
  type CompiledExpression,
  type FunctionTable,
} from './fhirpath';
import {
  LIBRARY_FILE,
  composePolicy,
  declaredIn,
  loadLibrary,
  usedDeclarations,
  withoutUnusedImports,
  type Library,
} from './library';
import schema from './policy.schema.json';
import type { LoadedService, PayerIdentifier, PolicyOutline } from './types';

/** The policy file as the schema describes it (after validation). */
interface RawPolicy {
  id: string;
  imports?: string[];
  hook: 'order-sign';
  title: string;
  description: string;
  usageRequirements: string;
  prefetch: Record<string, string>;
  policy: {
    label: string;
    labelNamesPayer: boolean;
    identifier?: string;
    version: string;
    effectiveDate?: string;
    source: string;
  };
  payers: Array<{ system: string; value: string; name?: string }>;
  drug: { codes: string; billingCode: { system: string; code: string; display?: string } };
  systems: Record<string, string>;
  codes: Record<string, CodeSetEntry[]>;
  collections: Record<string, { resourceType: string; codes?: string; source?: 'data' | 'regimen' }>;
  facts?: Record<string, string>;
  criteria: Array<{
    id: string;
    short: string;
    clause: string;
    description: string;
    documentation: string;
    evidence?: string;
    status?: string;
    alwaysUnknown?: true;
    documentationWhen?: Array<{ when: string; documentation: string }>;
    notCoveredWhenNotMet?: string;
  }>;
  documentation?: Array<{
    id: string;
    short: string;
    kind: 'attestation' | 'submit-with-request';
    clause: string;
    request: string;
    when?: 'always' | 'continuation';
  }>;
  universal?: string[];
  continuation?: { fromCycle: number; criteria: string[] };
  pathways: Array<{
    id: string;
    title: string;
    clause: string;
    criteria: string[];
    indication: string;
    schedule: string;
    maxCycles?: number;
    authorization?: { initial?: string; continuation?: string };
  }>;
  exclusions?: Array<{ id: string; clause: string; reason: string; when: string }>;
  authorization: { initial: string; continuation: string };
  doseObservations: { weights: string; heights: string; bsas: string };
  dosing: Omit<DosingRules, 'schedules'> & { schedules: Record<string, { cycles: DoseSchedule['cycles'] }> };
}

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
const validatePolicy = ajv.compile<RawPolicy>(schema);

/** Prefetch tokens CDS Hooks 2.0 defines for order-sign (contract section 3: standard tokens only). */
const STANDARD_TOKENS: ReadonlySet<string> = new Set([
  'context.patientId',
  'context.userId',
  'context.encounterId',
  'userPractitionerId',
  'userPractitionerRoleId',
  'userPatientId',
  'userRelatedPersonId',
]);

function fail(file: string, where: string, problem: string): never {
  throw new Error(`${file}: ${where}: ${problem}`);
}

function quote(source: string): string {
  return `"${source.replace(/\s+/g, ' ').trim()}"`;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${file}: ${code === 'ENOENT' ? 'missing' : `cannot be read (${code ?? 'error'})`}`);
  }
}

function readYaml(file: string): unknown {
  const text = readText(file);
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (e) {
    throw new Error(`${file}: not valid YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Names the rule an ajv error points into (`/criteria/3/status` -> `criterion cd19-positive`). */
function ruleAt(raw: unknown, instancePath: string): string {
  const m = /^\/(criteria|pathways|exclusions|documentation)\/(\d+)/.exec(instancePath);
  if (!m || typeof raw !== 'object' || raw === null) {
    return '';
  }
  const list = (raw as Record<string, unknown>)[m[1] as string];
  const item: unknown = Array.isArray(list) ? list[Number(m[2])] : undefined;
  const id = typeof item === 'object' && item !== null ? (item as Record<string, unknown>).id : undefined;
  const kind = { criteria: 'criterion', pathways: 'pathway', exclusions: 'exclusion', documentation: 'item' }[
    m[1] as 'criteria'
  ];
  return typeof id === 'string' ? ` (${kind} ${id})` : '';
}

function schemaProblems(raw: unknown, errors: ErrorObject[] | null | undefined): string {
  const lines = (errors ?? [])
    .filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'allOf')
    .slice(0, 6)
    .map((e) => {
      const extra =
        e.keyword === 'additionalProperties'
          ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})`
          : e.keyword === 'enum'
            ? ` (${((e.params as { allowedValues?: unknown[] }).allowedValues ?? []).join(', ')})`
            : '';
      return `${e.instancePath || '/'}${ruleAt(raw, e.instancePath)} ${e.message ?? 'is invalid'}${extra}`;
    });
  return lines.length > 0 ? lines.join('; ') : 'does not match policy.schema.json';
}

function resolveSystem(file: string, where: string, systems: Record<string, string>, system: string): string {
  if (Object.prototype.hasOwnProperty.call(systems, system)) {
    return systems[system] as string;
  }
  if (system.includes(':')) {
    return system;
  }
  return fail(file, where, `unknown system alias ${system} (declare it under systems:)`);
}

function duplicates(values: readonly string[]): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const v of values) {
    if (seen.has(v)) {
      dup.add(v);
    }
    seen.add(v);
  }
  return [...dup];
}

/** The `system|code` pairs an Observation search template asks for (`...&code=s|c,s|c`). */
function templateCodes(template: string): Set<string> {
  const query = template.split('?')[1] ?? '';
  const codes = new Set<string>();
  for (const param of query.split('&')) {
    const [name, value] = param.split('=');
    if (name === 'code' && value !== undefined) {
      for (const token of value.split(',')) {
        let decoded = token;
        try {
          decoded = decodeURIComponent(token);
        } catch {
          decoded = token;
        }
        codes.add(decoded.trim());
      }
    }
  }
  return codes;
}

function templateType(template: string): string | undefined {
  return /^\/?([A-Z][A-Za-z]+)(?:[/?]|$)/.exec(template)?.[1];
}

interface ExpressionScope {
  allowed: ReadonlySet<string>;
  where: string;
}

/**
 * What an expression's value depends on among the things that differ between the orders of one call: the order
 * (when it reads its focus or `%order`), `%plannedStart`, `%cycle1Start`, and whatever the facts it reads depend on.
 * @param expressions - the expressions of one rule (a fact, an exclusion, a criterion's parts)
 * @param facts - the dependencies of the facts declared so far
 */
function orderDependencies(
  expressions: ReadonlyArray<CompiledExpression | undefined>,
  facts: ReadonlyMap<string, readonly OrderDependency[]>
): OrderDependency[] {
  const found = new Set<OrderDependency>();
  for (const expression of expressions) {
    if (!expression) {
      continue;
    }
    if (expression.readsFocus) {
      found.add('order');
    }
    for (const name of expression.variables) {
      if (name === 'order' || name === 'plannedStart' || name === 'cycle1Start') {
        found.add(name);
      }
      for (const d of facts.get(name) ?? []) {
        found.add(d);
      }
    }
  }
  return ORDER_DEPENDENCIES.filter((d) => found.has(d));
}

class PolicyCompiler {
  private readonly table: FunctionTable;

  constructor(
    private readonly file: string,
    private readonly codeSets: ReadonlyMap<string, CodeMatcher>,
    unitSynonyms: Record<string, string>
  ) {
    this.table = createFunctionTable({ codeSets, unitSynonyms });
  }

  /** Compiles, checks variables and functions, and dry-runs with every allowed variable set to null. */
  compile(source: string, scope: ExpressionScope): CompiledExpression {
    const where = `${scope.where} ${quote(source)}`;
    let compiled: CompiledExpression;
    try {
      compiled = compileExpression(source, this.table);
    } catch (e) {
      return fail(this.file, where, `does not compile: ${e instanceof Error ? e.message : String(e)}`);
    }
    for (const name of compiled.variables) {
      if (!scope.allowed.has(name) && !FHIRPATH_BUILTIN_VARIABLES.has(name)) {
        fail(
          this.file,
          where,
          `%${name} is not declared here (allowed: ${[...scope.allowed].map((v) => `%${v}`).join(', ')})`
        );
      }
    }
    this.checkCalls(source, where);
    const vars: Record<string, unknown> = {};
    for (const name of scope.allowed) {
      vars[name] = null;
    }
    try {
      compiled.evaluate({}, vars);
    } catch (e) {
      fail(this.file, where, `fails on empty data: ${e instanceof Error ? e.message : String(e)}`);
    }
    return compiled;
  }

  private checkCalls(source: string, where: string): void {
    // compileExpression already parsed it; parse again for the call sites (load time only).
    const { calls } = analyze(source);
    for (const call of calls) {
      const custom = CUSTOM_FUNCTIONS[call.name];
      if (custom) {
        if (!custom.includes(call.params)) {
          fail(this.file, where, `${call.name}() takes ${custom.join(' or ')} parameter(s), not ${call.params}`);
        }
        if (call.name === 'coded') {
          if (call.literal === undefined) {
            fail(
              this.file,
              where,
              "coded() takes the name of a code set written as a string, e.g. coded('cd19Positive')"
            );
          }
          if (!this.codeSets.has(call.literal)) {
            fail(this.file, where, `coded('${call.literal}'): no code set of that name under codes:`);
          }
        }
        if (call.name === 'quantityValue' && (call.literal === undefined || !isValidUcum(call.literal))) {
          fail(
            this.file,
            where,
            `quantityValue() takes a valid UCUM unit written as a string, e.g. quantityValue('%')`
          );
        }
        const unit = call.literals[1];
        if (call.name === 'atLeast' && (unit === undefined || !isValidUcum(unit))) {
          fail(
            this.file,
            where,
            `atLeast() takes a number and a valid UCUM unit written as a string, e.g. atLeast(0.1, '%')`
          );
        }
        continue;
      }
      const problem = checkBuiltinCall(call.name, call.params);
      if (problem) {
        fail(this.file, where, problem);
      }
    }
  }
}

function checkPrefetch(
  file: string,
  raw: RawPolicy,
  observationSets: ReadonlyMap<string, CodeMatcher>,
  types: Set<string>
): void {
  const templatesByType = new Map<string, string[]>();
  for (const [key, template] of Object.entries(raw.prefetch)) {
    for (const m of template.matchAll(/\{\{([^}]*)\}\}/g)) {
      const token = (m[1] ?? '').trim();
      if (!STANDARD_TOKENS.has(token)) {
        fail(file, `prefetch.${key}`, `{{${token}}} is not a standard CDS Hooks prefetch token`);
      }
    }
    const type = templateType(template);
    if (!type) {
      fail(file, `prefetch.${key}`, `${quote(template)} is not a FHIR read or search`);
    }
    templatesByType.set(type, [...(templatesByType.get(type) ?? []), template]);
  }
  for (const type of ['Coverage', 'Patient', 'MedicationRequest', ...types]) {
    if (!templatesByType.has(type)) {
      fail(file, 'prefetch', `no template reads ${type}, which the policy needs`);
    }
  }
  // The routed services match the payer on the payor Organization as well as on the reference's identifier.
  for (const template of templatesByType.get('Coverage') ?? []) {
    if (!/[?&]_include=Coverage(?::|%3A)payor(?:&|$)/.test(template)) {
      fail(
        file,
        'prefetch',
        `${quote(template)} must include the payor (_include=Coverage:payor): the payer is matched on it`
      );
    }
  }
  const observationTemplates = templatesByType.get('Observation') ?? [];
  if (observationSets.size === 0) {
    return;
  }
  if (observationTemplates.length === 0) {
    fail(file, 'prefetch', 'no Observation template, though the policy reads Observations');
  }
  const asked = new Set<string>();
  for (const t of observationTemplates) {
    for (const c of templateCodes(t)) {
      asked.add(c);
    }
  }
  const read = new Set<string>();
  for (const [name, matcher] of observationSets) {
    for (const { system, code } of matcher.listed) {
      if (system === undefined) {
        fail(file, `codes.${name}`, 'Observation codes need a system, to build the prefetch query');
      }
      read.add(`${system}|${code}`);
      if (!asked.has(`${system}|${code}`)) {
        fail(file, 'prefetch', `the Observation template does not ask for ${system}|${code} (code set ${name})`);
      }
    }
  }
  for (const c of asked) {
    if (!read.has(c)) {
      fail(file, 'prefetch', `the Observation template asks for ${c}, which no collection or dose check reads`);
    }
  }
}

/** Every criterion id a case mentions in its expectations (`expect.criteria` keys). */
function mentionedCriteria(file: string, cases: unknown): { ids: Set<string>; count: number } {
  if (typeof cases !== 'object' || cases === null || !Array.isArray((cases as { cases?: unknown }).cases)) {
    return fail(file, 'cases', 'expected a list under cases:');
  }
  const list = (cases as { cases: unknown[] }).cases;
  if (list.length === 0) {
    fail(file, 'cases', 'no case');
  }
  const ids = new Set<string>();
  list.forEach((c, i) => {
    if (typeof c !== 'object' || c === null || typeof (c as { name?: unknown }).name !== 'string') {
      fail(file, `cases[${i}]`, 'each case needs a name');
    }
    const expect: unknown = (c as { expect?: unknown }).expect;
    const expectations = Array.isArray(expect) ? expect : [expect];
    for (const e of expectations) {
      const criteria: unknown =
        typeof e === 'object' && e !== null ? (e as { criteria?: unknown }).criteria : undefined;
      if (typeof criteria === 'object' && criteria !== null) {
        Object.keys(criteria).forEach((k) => ids.add(k));
      }
    }
  });
  return { ids, count: list.length };
}

function deepFreeze<T>(value: T, seen = new Set<unknown>()): T {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) {
    return value;
  }
  seen.add(value);
  if (value instanceof Map || value instanceof Set) {
    return value;
  }
  for (const key of Object.getOwnPropertyNames(value)) {
    deepFreeze((value as Record<string, unknown>)[key], seen);
  }
  return Object.freeze(value);
}

/** The libraries of one services directory, and which of their declarations the policies loaded so far use. */
export interface LibraryContext {
  /** By folder name (`_blinatumomab-label`); read on first import. */
  libraries: Map<string, Library>;
  /** Library name -> its declarations (`kind.name`) some importing policy uses. */
  used: Map<string, Set<string>>;
}

function newLibraryContext(): LibraryContext {
  return { libraries: new Map(), used: new Map() };
}

/** The libraries a policy imports, read from the folders beside it (`<services dir>/_<name>/library.yaml`). */
function importsOf(file: string, folder: string, raw: unknown, context: LibraryContext): Library[] {
  const imports: unknown = typeof raw === 'object' && raw !== null ? (raw as { imports?: unknown }).imports : undefined;
  if (!Array.isArray(imports)) {
    return [];
  }
  return imports.map((name: unknown, i) => {
    if (typeof name !== 'string' || !/^_[a-z0-9][a-z0-9-]*$/.test(name)) {
      return fail(
        file,
        `imports[${i}]`,
        'a library is named by its folder, which starts with _ (e.g. _blinatumomab-label)'
      );
    }
    let library = context.libraries.get(name);
    if (!library) {
      const libraryFolder = path.join(path.dirname(folder), name);
      if (!fs.existsSync(path.join(libraryFolder, LIBRARY_FILE))) {
        fail(file, `imports[${i}]`, `no library ${name} (expected ${path.join(libraryFolder, LIBRARY_FILE)})`);
      }
      library = loadLibrary(libraryFolder);
      context.libraries.set(name, library);
    }
    return library;
  });
}

/**
 * A policy folder's policy.yaml with its imports merged in and left out of it (only what it uses): the same policy as
 * one self-contained document, valid without the libraries (for tools and tests that change a policy key by key).
 * @param folder - a policy folder of a services directory.
 */
export function standalonePolicy(folder: string): Record<string, unknown> {
  const file = path.join(folder, 'policy.yaml');
  const own = readYaml(file);
  const ownObject =
    typeof own === 'object' && own !== null && !Array.isArray(own) ? (own as Record<string, unknown>) : {};
  const composed = composePolicy(ownObject, file, importsOf(file, folder, own, newLibraryContext()));
  const usage = usedDeclarations(composed.raw);
  const raw = usage ? withoutUnusedImports(composed, usage) : composed.raw;
  delete raw.imports;
  return raw;
}

/**
 * Loads one service folder.
 * @param folder - a folder holding policy.yaml and cases.yaml; its name must equal the policy's id.
 * @param context - the libraries of its services directory (loadServices shares one across the policies).
 */
export function loadService(folder: string, context: LibraryContext = newLibraryContext()): LoadedService {
  const file = path.join(folder, 'policy.yaml');
  const own = readYaml(file);
  const libraries = importsOf(file, folder, own, context);
  const composed = composePolicy(
    typeof own === 'object' && own !== null && !Array.isArray(own) ? (own as Record<string, unknown>) : {},
    file,
    libraries
  );
  const raw: unknown = libraries.length > 0 ? composed.raw : own;
  if (!validatePolicy(raw)) {
    return fail(file, 'schema', schemaProblems(raw, validatePolicy.errors));
  }
  // Every declaration is used (contract section 1, "More policies"): the imported ones it does not use are left out
  // (a library declaration no importer uses is refused by loadServices); the policy's own that nothing uses are
  // refused once everything else checks (a mistake in an expression is the first thing to hear about).
  let p: RawPolicy = raw;
  const usage = usedDeclarations(raw as unknown as Record<string, unknown>);
  if (usage) {
    p = withoutUnusedImports(composed, usage) as unknown as RawPolicy;
    for (const [key, library] of composed.importedFrom) {
      if (usage.has(key)) {
        const set = context.used.get(library.name) ?? new Set<string>();
        set.add(key);
        context.used.set(library.name, set);
      }
    }
  }
  const folderName = path.basename(folder);
  if (p.id !== folderName) {
    fail(file, 'id', `the id ${p.id} differs from the folder name ${folderName}`);
  }

  // Code sets, declared once.
  const codeSets = new Map<string, CodeMatcher>();
  for (const [name, entries] of Object.entries(p.codes)) {
    const resolved = entries.map((e, i) => ({
      ...e,
      ...(e.system !== undefined ? { system: resolveSystem(file, `codes.${name}[${i}]`, p.systems, e.system) } : {}),
    }));
    codeSets.set(name, new CodeMatcher(resolved));
  }
  const setNamed = (where: string, name: string): CodeMatcher =>
    codeSets.get(name) ?? fail(file, where, `no code set named ${name} under codes:`);

  const drug = setNamed('drug.codes', p.drug.codes);
  if (drug.entries.some((e) => e.system === undefined)) {
    fail(file, `codes.${p.drug.codes}`, 'drug codes need a system');
  }
  if (drug.entries.every((e) => (e.codes ?? []).length === 0 && (e.prefixes ?? []).length === 0)) {
    fail(file, `codes.${p.drug.codes}`, 'the drug code set lists no code');
  }
  const payers: PayerIdentifier[] = p.payers.map((payer, i) => ({
    system: resolveSystem(file, `payers[${i}]`, p.systems, payer.system),
    value: payer.value,
    ...(payer.name !== undefined ? { name: payer.name } : {}),
  }));
  const payerDup = duplicates(payers.map((x) => `${x.system}|${x.value}`));
  if (payerDup.length > 0) {
    fail(file, 'payers', `${payerDup[0] as string} is listed twice`);
  }
  const billingCode = {
    system: resolveSystem(file, 'drug.billingCode', p.systems, p.drug.billingCode.system),
    code: p.drug.billingCode.code,
    ...(p.drug.billingCode.display ? { display: p.drug.billingCode.display } : {}),
  };

  // Names: collections, facts and builtins share one namespace of %variables.
  const builtins = new Set<string>(BUILTIN_VARIABLES);
  const facts = Object.entries(p.facts ?? {});
  for (const name of [...Object.keys(p.collections), ...facts.map(([n]) => n)]) {
    if (builtins.has(name) || FHIRPATH_BUILTIN_VARIABLES.has(name) || name === 'evidence') {
      fail(file, name, `%${name} is reserved`);
    }
  }
  const shared = Object.keys(p.collections).filter((n) => Object.prototype.hasOwnProperty.call(p.facts ?? {}, n));
  if (shared.length > 0) {
    fail(file, shared[0] as string, 'a collection and a fact share this name');
  }

  const collections: CompiledCollection[] = Object.entries(p.collections).map(([name, c]) => {
    if (c.source === 'regimen' && c.resourceType !== 'MedicationRequest') {
      fail(file, `collections.${name}`, 'source regimen is for MedicationRequest only');
    }
    return {
      name,
      resourceType: c.resourceType,
      source: c.source ?? 'data',
      ...(c.codes !== undefined ? { codes: setNamed(`collections.${name}`, c.codes), codeSetName: c.codes } : {}),
    };
  });

  // Dosing and the Observations it reads.
  const schedules: Record<string, DoseSchedule> = {};
  for (const [id, s] of Object.entries(p.dosing.schedules)) {
    s.cycles.forEach((cycle, i) => {
      if (cycle.to !== undefined && cycle.to < cycle.from) {
        fail(file, `dosing.schedules.${id}.cycles[${i}]`, 'to is before from');
      }
      for (const band of cycle.bands) {
        if (band.days[0] > band.days[1] || band.days[1] > cycle.lengthDays) {
          fail(
            file,
            `dosing.schedules.${id}.cycles[${i}]`,
            `days ${band.days.join('-')} do not fit a ${cycle.lengthDays}-day cycle`
          );
        }
      }
    });
    schedules[id] = { id, cycles: s.cycles };
  }
  const dosing: DosingRules = { ...p.dosing, schedules };
  const doseObservations = {
    weights: setNamed('doseObservations.weights', p.doseObservations.weights),
    heights: setNamed('doseObservations.heights', p.doseObservations.heights),
    bsas: setNamed('doseObservations.bsas', p.doseObservations.bsas),
  };

  const observationSets = new Map<string, CodeMatcher>();
  for (const c of collections) {
    if (c.resourceType === 'Observation' && c.codes && c.codeSetName) {
      observationSets.set(c.codeSetName, c.codes);
    }
  }
  for (const name of Object.values(p.doseObservations)) {
    observationSets.set(name, setNamed('doseObservations', name));
  }
  checkPrefetch(file, p, observationSets, new Set(collections.map((c) => c.resourceType)));

  // Expressions.
  const compiler = new PolicyCompiler(file, codeSets, p.dosing.unitSynonyms);
  const base = new Set<string>([...builtins, ...collections.map((c) => c.name)]);
  const compiledFacts: CompiledFact[] = [];
  const factDependencies = new Map<string, readonly OrderDependency[]>();
  for (const [name, source] of facts) {
    const expression = compiler.compile(source, { allowed: new Set(base), where: `fact ${name}` });
    const dependsOn = orderDependencies([expression], factDependencies);
    compiledFacts.push({ name, expression, dependsOn });
    factDependencies.set(name, dependsOn);
    base.add(name);
  }
  const withEvidence = new Set<string>([...base, 'evidence']);

  const ids = p.criteria.map((c) => c.id);
  const itemIds = (p.documentation ?? []).map((d) => d.id);
  const dup = duplicates([...ids, ...itemIds]);
  if (dup.length > 0) {
    fail(file, `criterion ${dup[0] as string}`, 'duplicate id (criteria and documentation items share one namespace)');
  }
  const criteria: CompiledCriterion[] = p.criteria.map((c) => {
    const where = `criterion ${c.id}`;
    const evidence =
      c.evidence !== undefined
        ? compiler.compile(c.evidence, { allowed: base, where: `${where} (evidence)` })
        : undefined;
    const status =
      c.status !== undefined
        ? compiler.compile(c.status, { allowed: withEvidence, where: `${where} (status)` })
        : undefined;
    const documentationWhen = (c.documentationWhen ?? []).map((d, i) => ({
      when: compiler.compile(d.when, { allowed: withEvidence, where: `${where} (documentationWhen[${i}])` }),
      documentation: d.documentation,
    }));
    const evidenceDependsOn = orderDependencies([evidence], factDependencies);
    return {
      id: c.id,
      short: c.short,
      clause: c.clause,
      description: c.description,
      documentation: c.documentation,
      alwaysUnknown: c.alwaysUnknown === true,
      ...(evidence ? { evidence } : {}),
      ...(status ? { status } : {}),
      documentationWhen,
      evidenceDependsOn,
      dependsOn: orderDependencies([evidence, status, ...documentationWhen.map((d) => d.when)], factDependencies),
      ...(c.notCoveredWhenNotMet !== undefined ? { notCoveredWhenNotMet: c.notCoveredWhenNotMet } : {}),
    };
  });
  const criterionById = new Map(criteria.map((c) => [c.id, c]));
  const known = (where: string, id: string): string =>
    criterionById.has(id) ? id : fail(file, where, `no criterion ${id}`);

  const universal = (p.universal ?? []).map((id) => known('universal', id));
  const continuation = p.continuation
    ? { fromCycle: p.continuation.fromCycle, criteria: p.continuation.criteria.map((id) => known('continuation', id)) }
    : undefined;

  const pathwayDup = duplicates(p.pathways.map((x) => x.id));
  if (pathwayDup.length > 0) {
    fail(file, `pathway ${pathwayDup[0] as string}`, 'duplicate pathway id');
  }
  const pathways: CompiledPathway[] = p.pathways.map((x) => {
    const where = `pathway ${x.id}`;
    x.criteria.forEach((id) => known(where, id));
    if (!x.criteria.includes(x.indication)) {
      fail(file, where, `the indication criterion ${x.indication} is not among its criteria`);
    }
    if (!schedules[x.schedule]) {
      fail(file, where, `no dosing schedule ${x.schedule}`);
    }
    return {
      id: x.id,
      title: x.title,
      clause: x.clause,
      criteria: [...x.criteria],
      indication: x.indication,
      schedule: x.schedule,
      ...(x.maxCycles !== undefined ? { maxCycles: x.maxCycles } : {}),
      authorization: {
        initial: x.authorization?.initial ?? p.authorization.initial,
        continuation: x.authorization?.continuation ?? p.authorization.continuation,
      },
    };
  });
  const used = new Set<string>([
    ...universal,
    ...(continuation?.criteria ?? []),
    ...pathways.flatMap((x) => x.criteria),
  ]);
  for (const c of criteria) {
    if (!used.has(c.id)) {
      fail(file, `criterion ${c.id}`, 'no pathway, universal or continuation list uses it');
    }
  }

  const exclusionDup = duplicates((p.exclusions ?? []).map((x) => x.id));
  if (exclusionDup.length > 0) {
    fail(file, `exclusion ${exclusionDup[0] as string}`, 'duplicate exclusion id');
  }
  const exclusions: CompiledExclusion[] = (p.exclusions ?? []).map((x) => {
    const when = compiler.compile(x.when, { allowed: base, where: `exclusion ${x.id} (when)` });
    return {
      id: x.id,
      clause: x.clause,
      reason: x.reason,
      when,
      dependsOn: orderDependencies([when], factDependencies),
    };
  });

  const items: CompiledItem[] = (p.documentation ?? []).map((d) => {
    if (d.when === 'continuation' && !continuation) {
      fail(file, `item ${d.id}`, 'when: continuation needs a continuation: block');
    }
    return {
      id: d.id,
      short: d.short,
      kind: d.kind,
      clause: d.clause,
      request: d.request,
      when: d.when ?? 'always',
    };
  });

  // Cases beside the policy, covering every criterion.
  const casesFile = path.join(folder, 'cases.yaml');
  if (!fs.existsSync(casesFile)) {
    fail(casesFile, 'cases', 'missing: every policy needs its cases beside it');
  }
  const mentioned = mentionedCriteria(casesFile, readYaml(casesFile));
  for (const c of criteria) {
    if (!mentioned.ids.has(c.id)) {
      fail(casesFile, `criterion ${c.id}`, 'no case mentions it (expect.criteria)');
    }
  }

  const compiled: CompiledPolicy = {
    file,
    casesFile,
    caseCount: mentioned.count,
    codeSets,
    drug,
    collections,
    facts: compiledFacts,
    criteria,
    criterionById,
    items,
    universal,
    ...(continuation ? { continuation } : {}),
    pathways,
    exclusions,
    authorization: { ...p.authorization },
    doseObservations,
  };

  const definition: ServiceDefinition = {
    id: p.id,
    hook: 'order-sign',
    title: p.title,
    description: p.description,
    prefetch: { ...p.prefetch },
    usageRequirements: p.usageRequirements,
    extension: { 'davinci-crd.configuration-options': structuredClone(CRD_CONFIGURATION_OPTIONS) },
  };

  const unused = usage ? declaredIn(own as Record<string, unknown>).filter((d) => !usage.has(d)) : [];
  if (unused.length > 0) {
    fail(file, unused.join(', '), 'declared, but nothing uses it');
  }

  const service: LoadedService = {
    id: p.id,
    dir: folder,
    definition,
    label: p.policy.label,
    labelNamesPayer: p.policy.labelNamesPayer,
    ...(p.policy.identifier !== undefined ? { policyId: p.policy.identifier } : {}),
    version: p.policy.version,
    ...(p.policy.effectiveDate !== undefined ? { effectiveDate: p.policy.effectiveDate } : {}),
    sourceDocument: p.policy.source,
    drug,
    payers,
    billingCode,
    documentation: [
      ...criteria.map((c) => ({ id: c.id, short: c.short, text: c.documentation, kind: 'unknown-criterion' as const })),
      ...items.map((d) => ({ id: d.id, short: d.short, text: d.request, kind: d.kind })),
    ],
    dosing,
    outline: outlineOf(compiled),
    policy: compiled,
  };
  return deepFreeze(service);
}

/** The compiled policy's declarations as plain data (no expressions), for the cards and the policy page. */
function outlineOf(policy: CompiledPolicy): PolicyOutline {
  return {
    criteria: policy.criteria.map((c) => ({
      id: c.id,
      short: c.short,
      clause: c.clause,
      description: c.description,
      documentation: c.documentation,
      ...(c.notCoveredWhenNotMet !== undefined ? { notCoveredWhenNotMet: c.notCoveredWhenNotMet } : {}),
    })),
    universal: [...policy.universal],
    ...(policy.continuation
      ? { continuation: { fromCycle: policy.continuation.fromCycle, criteria: [...policy.continuation.criteria] } }
      : {}),
    pathways: policy.pathways.map((x) => ({
      id: x.id,
      title: x.title,
      clause: x.clause,
      criteria: [...x.criteria],
      indication: x.indication,
      schedule: x.schedule,
      ...(x.maxCycles !== undefined ? { maxCycles: x.maxCycles } : {}),
      authorization: { ...x.authorization },
    })),
    exclusions: policy.exclusions.map((x) => ({ id: x.id, clause: x.clause, reason: x.reason })),
    items: policy.items.map((d) => ({
      id: d.id,
      short: d.short,
      kind: d.kind,
      clause: d.clause,
      request: d.request,
      when: d.when,
    })),
    authorization: { ...policy.authorization },
  };
}

/**
 * Loads every service folder under `dir` (hidden folders skipped), in name order.
 * @param dir - the services directory (CDS_SERVICES_DIR).
 * @throws Error naming the file, the rule and the expression, on the first problem found.
 */
export function loadServices(dir: string): LoadedService[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`${dir}: the services directory cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const folders = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !e.name.startsWith('_'))
    .map((e) => e.name)
    .sort();
  const context = newLibraryContext();
  const services = folders.map((name) => loadService(path.join(dir, name), context));
  const dup = duplicates(services.map((s) => s.id));
  if (dup.length > 0) {
    throw new Error(`${dir}: two services have the id ${dup[0] as string}`);
  }
  // Contract section 1: the routed services choose the policy by the payer, so a payer belongs to one policy.
  const declaredBy = new Map<string, LoadedService>();
  for (const service of services) {
    for (const payer of service.payers) {
      const key = `${payer.system}|${payer.value}`;
      const first = declaredBy.get(key);
      if (first) {
        throw new Error(
          `${path.join(service.dir, 'policy.yaml')}: payers: ${key} is also declared by ${path.join(first.dir, 'policy.yaml')}: a payer belongs to one policy`
        );
      }
      declaredBy.set(key, service);
    }
  }
  // Libraries (folders starting with _): every declaration some importing policy uses; one nobody imports is unused.
  const libraryFolders = entries
    .filter((e) => e.isDirectory() && e.name.startsWith('_'))
    .map((e) => e.name)
    .sort();
  for (const name of libraryFolders) {
    const library = context.libraries.get(name) ?? loadLibrary(path.join(dir, name));
    const usedHere = context.used.get(name) ?? new Set<string>();
    const unused = library.declarations.filter((d) => !usedHere.has(d));
    if (unused.length > 0) {
      throw new Error(
        `${library.file}: ${unused.join(', ')}: declared, but no policy that imports ${name} uses it${
          context.libraries.has(name) ? '' : ' (no policy imports it)'
        }`
      );
    }
  }
  return services;
}

/** What `npm run check:services` prints about a loaded service. */
export function describeService(service: LoadedService): {
  id: string;
  criteria: number;
  pathways: string[];
  exclusions: string[];
  documentationItems: number;
  cases: number;
} {
  const policy = service.policy as CompiledPolicy;
  return {
    id: service.id,
    criteria: policy.criteria.length,
    pathways: policy.pathways.map((x) => x.id),
    exclusions: policy.exclusions.map((x) => x.id),
    documentationItems: policy.items.length,
    cases: policy.caseCount,
  };
}
