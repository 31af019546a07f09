// The only importer of `fhirpath` (docs/architecture.md). Compiles policy expressions once, with the r4 model and
// synchronously, and registers the few general-purpose functions policies may call (listed in cds-services/README.md):
//
//   coded('set')              any coding of the input (CodeableConcept, Coding or code) is in the policy's code set
//   factDate()                the date each input resource is dated by (contract section 4)
//   onOrBefore(date)          input resources dated on or before `date` (undated Conditions count at every date)
//   after(date)               input resources dated strictly after `date`
//   withinDaysBefore(n, date) input resources dated from `date` - n to `date`, both included
//   latest() / earliest()     the input resources on the latest / earliest date (all of them when several share it)
//   agree()                   true when every boolean input is true, false when every one is false, else empty
//   ageInMonthsAt(date)       completed calendar months from the input birth date to `date`
//   quantityValue('unit')     each input Quantity converted to a UCUM unit (empty when it cannot be)
//   atLeast(n, 'unit')        for each input Quantity, whether it is at least n in that unit, honouring its
//                             comparator (`<0.01 %` is below 0.1 %; `<0.5 %` cannot tell, so gives nothing)
//
// fhirpath annotates the objects it evaluates: callers pass copies, never the request body.
import * as fhirpath from 'fhirpath';
import * as r4 from 'fhirpath/fhir-context/r4';
import Decimal from 'decimal.js';
import type { CodeMatcher } from './code-sets';
import { addDays, ageInMonths, calendarDate, countsUndated, factDateOf } from './dates';

const UCUM_SYSTEM = 'http://unitsofmeasure.org';

type Fn = (this: unknown, input: unknown[], ...params: unknown[]) => unknown[];
type ParamType = 'Any' | 'String' | 'Integer';

interface TableEntry {
  fn: Fn;
  arity: Record<number, ParamType[]>;
}

export type FunctionTable = Record<string, TableEntry>;

/** What the policy-specific functions need: its code sets and its unit-text synonyms. */
export interface FunctionEnvironment {
  codeSets: ReadonlyMap<string, CodeMatcher>;
  unitSynonyms: Readonly<Record<string, string>>;
}

/** The custom functions and how many parameters each takes (checked when a policy loads). */
export const CUSTOM_FUNCTIONS: Readonly<Record<string, readonly number[]>> = {
  coded: [1],
  factDate: [0],
  onOrBefore: [1],
  after: [1],
  withinDaysBefore: [2],
  latest: [0],
  earliest: [0],
  agree: [0],
  ageInMonthsAt: [1],
  quantityValue: [1],
  atLeast: [2],
};

/**
 * Work done since the process started, for tests that check how evaluation grows with a call's size (contract
 * section 2: linear cost): compiled expressions evaluated, and items `coded()` looked at.
 */
const evaluations = { expressions: 0, codedItems: 0 };

/** A snapshot of the work counters. */
export function evaluationCounts(): { expressions: number; codedItems: number } {
  return { ...evaluations };
}

/** Names fhirpath itself provides as `%` variables. */
export const FHIRPATH_BUILTIN_VARIABLES: ReadonlySet<string> = new Set(['ucum', 'context', 'factory']);

function firstDate(param: unknown): string | undefined {
  const values = Array.isArray(param) ? param : [param];
  for (const v of values) {
    const date = calendarDate(v);
    if (date) {
      return date;
    }
  }
  return undefined;
}

function firstInteger(param: unknown): number | undefined {
  const values = Array.isArray(param) ? param : [param];
  const v: unknown = values[0];
  // fhirpath may hand numbers over wrapped (its decimal types): take the number they stand for.
  const n = typeof v === 'number' ? v : typeof v === 'object' && v !== null ? Number(v) : NaN;
  return Number.isInteger(n) ? n : undefined;
}

function firstNumber(param: unknown): number | undefined {
  const values = Array.isArray(param) ? param : [param];
  const v: unknown = values[0];
  const n = typeof v === 'number' ? v : typeof v === 'object' && v !== null ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Whether a Quantity is at least `threshold` (in `unit`), three-valued: without a comparator the value decides;
 * `<` or `<=` can only say no, `>` or `>=` can only say yes; anything unreadable says nothing.
 */
export function quantityAtLeast(
  quantity: unknown,
  threshold: number,
  unit: string,
  synonyms: Readonly<Record<string, string>>
): boolean | undefined {
  const value = quantityIn(quantity, unit, synonyms);
  if (value === undefined) {
    return undefined;
  }
  const comparator = (quantity as Record<string, unknown>).comparator;
  switch (comparator) {
    case undefined:
    case null:
      return value >= threshold;
    case '<':
      return value <= threshold ? false : undefined;
    case '<=':
      return value < threshold ? false : undefined;
    case '>':
    case '>=':
      return value >= threshold ? true : undefined;
    default:
      return undefined;
  }
}

function dated(input: unknown[]): Array<{ item: unknown; date: string | undefined }> {
  return input.map((item) => ({ item, date: factDateOf(item) }));
}

const ucumValidity = new Map<string, boolean>();

/** True when `unit` is a valid UCUM expression (cached: policies and data repeat a handful of units). */
export function isValidUcum(unit: string): boolean {
  let valid = ucumValidity.get(unit);
  if (valid === undefined) {
    try {
      const result = (fhirpath.ucumUtils as { validateUnitString(u: string): { status: string } }).validateUnitString(
        unit
      );
      valid = result.status === 'valid';
    } catch {
      valid = false;
    }
    if (ucumValidity.size < 1000) {
      ucumValidity.set(unit, valid);
    }
  }
  return valid;
}

/** Unit text with each unit part replaced by its synonym (`mcg/day` -> `ug/d`), contract section 7. */
export function applyUnitSynonyms(unit: string, synonyms: Readonly<Record<string, string>>): string {
  return unit
    .trim()
    .replace(/[^/.()\s]+/g, (part) =>
      Object.prototype.hasOwnProperty.call(synonyms, part) ? (synonyms[part] ?? part) : part
    );
}

const factorCache = new Map<string, Decimal | null>();

function conversionFactor(from: string, to: string): Decimal | undefined {
  const key = `${from}\u0000${to}`;
  let factor = factorCache.get(key);
  if (factor === undefined) {
    factor = null;
    try {
      const result = (
        fhirpath.ucumUtils as {
          convertUnitTo(f: string, v: number, t: string): { status: string; toVal?: number };
        }
      ).convertUnitTo(from, 1, to);
      if (result.status === 'succeeded' && typeof result.toVal === 'number' && Number.isFinite(result.toVal)) {
        factor = new Decimal(result.toVal);
      }
    } catch {
      factor = null;
    }
    if (factorCache.size < 1000) {
      factorCache.set(key, factor);
    }
  }
  return factor ?? undefined;
}

/**
 * A FHIR Quantity's value in `target` (a UCUM unit): read from `code` when the system is UCUM and it parses, else
 * from the `unit` text after the synonyms; undefined when there is no number or no convertible unit. Rounded to 12
 * significant digits so that 0.001 `1` is exactly 0.1 `%`.
 */
export function quantityIn(
  quantity: unknown,
  target: string,
  synonyms: Readonly<Record<string, string>>
): number | undefined {
  if (typeof quantity !== 'object' || quantity === null) {
    return undefined;
  }
  const q = quantity as Record<string, unknown>;
  if (typeof q.value !== 'number' || !Number.isFinite(q.value)) {
    return undefined;
  }
  let unit: string | undefined;
  if (q.system === UCUM_SYSTEM && typeof q.code === 'string' && isValidUcum(q.code)) {
    unit = q.code;
  } else if (typeof q.unit === 'string') {
    const text = applyUnitSynonyms(q.unit, synonyms);
    unit = isValidUcum(text) ? text : undefined;
  } else if (q.system === undefined && typeof q.code === 'string' && isValidUcum(q.code)) {
    unit = q.code;
  }
  if (unit === undefined) {
    return undefined;
  }
  if (unit === target) {
    return q.value;
  }
  const factor = conversionFactor(unit, target);
  return factor ? new Decimal(q.value).times(factor).toSignificantDigits(12).toNumber() : undefined;
}

/** The custom functions, bound to one policy's code sets and synonyms. */
export function createFunctionTable(env: FunctionEnvironment): FunctionTable {
  return {
    coded: {
      arity: { 1: ['String'] },
      fn: (input, name) => {
        const matcher = typeof name === 'string' ? env.codeSets.get(name) : undefined;
        if (!matcher) {
          throw new Error(`coded(): no code set named ${String(name)}`);
        }
        evaluations.codedItems += input.length;
        return [input.some((v) => matcher.matchesConcept(v))];
      },
    },
    factDate: {
      arity: { 0: [] },
      fn: (input) => input.map((r) => factDateOf(r)).filter((d): d is string => d !== undefined),
    },
    onOrBefore: {
      arity: { 1: ['Any'] },
      fn: (input, date) => {
        const limit = firstDate(date);
        if (limit === undefined) {
          return [];
        }
        return dated(input)
          .filter(({ item, date: d }) => (d === undefined ? countsUndated(item) : d <= limit))
          .map(({ item }) => item);
      },
    },
    after: {
      arity: { 1: ['Any'] },
      fn: (input, date) => {
        const limit = firstDate(date);
        if (limit === undefined) {
          return [];
        }
        return dated(input)
          .filter(({ item, date: d }) => (d === undefined ? countsUndated(item) : d > limit))
          .map(({ item }) => item);
      },
    },
    withinDaysBefore: {
      arity: { 2: ['Integer', 'Any'] },
      fn: (input, days, date) => {
        const n = firstInteger(days);
        const end = firstDate(date);
        if (n === undefined || end === undefined || end.length !== 10) {
          return [];
        }
        const start = addDays(end, -n);
        return dated(input)
          .filter(({ item, date: d }) => (d === undefined ? countsUndated(item) : d >= start && d <= end))
          .map(({ item }) => item);
      },
    },
    latest: {
      arity: { 0: [] },
      fn: (input) => extreme(input, (a, b) => a > b),
    },
    earliest: {
      arity: { 0: [] },
      fn: (input) => {
        const withDates = dated(input).filter(({ date }) => date !== undefined);
        return extreme(
          withDates.map(({ item }) => item),
          (a, b) => a < b
        );
      },
    },
    agree: {
      arity: { 0: [] },
      fn: (input) => {
        const booleans = input.filter((v): v is boolean => typeof v === 'boolean');
        if (booleans.length === 0) {
          return [];
        }
        if (booleans.every((b) => b)) {
          return [true];
        }
        return booleans.every((b) => !b) ? [false] : [];
      },
    },
    ageInMonthsAt: {
      arity: { 1: ['Any'] },
      fn: (input, date) => {
        const at = firstDate(date);
        const birth = firstDate(input);
        if (at === undefined || birth === undefined) {
          return [];
        }
        const months = ageInMonths(birth, at);
        return months === undefined ? [] : [months];
      },
    },
    quantityValue: {
      arity: { 1: ['String'] },
      fn: (input, unit) => {
        if (typeof unit !== 'string') {
          return [];
        }
        return input.map((q) => quantityIn(q, unit, env.unitSynonyms)).filter((v): v is number => v !== undefined);
      },
    },
    atLeast: {
      arity: { 2: ['Any', 'String'] },
      fn: (input, threshold, unit) => {
        const n = firstNumber(threshold);
        if (n === undefined || typeof unit !== 'string') {
          return [];
        }
        return input
          .map((q) => quantityAtLeast(q, n, unit, env.unitSynonyms))
          .filter((v): v is boolean => v !== undefined);
      },
    },
  };
}

/**
 * The items on the most extreme date; when none is dated, every undated item that counts (Conditions), since
 * undated Conditions count at every date.
 */
function extreme(input: unknown[], better: (a: string, b: string) => boolean): unknown[] {
  let best: string | undefined;
  const items = dated(input);
  for (const { date } of items) {
    if (date !== undefined && (best === undefined || better(date, best))) {
      best = date;
    }
  }
  if (best === undefined) {
    return items.filter(({ item }) => countsUndated(item)).map(({ item }) => item);
  }
  return items.filter(({ date }) => date === best).map(({ item }) => item);
}

/** One function call found in an expression. */
export interface CallSite {
  name: string;
  params: number;
  /** The first parameter when it is a string literal (code set names, units). */
  literal?: string;
  /** Each parameter that is a string literal, by position. */
  literals: Array<string | undefined>;
}

export interface ExpressionAnalysis {
  variables: Set<string>;
  calls: CallSite[];
  /**
   * Whether the expression reads its focus (the input it is evaluated over): a path or `$this` at the root, a
   * function applied to the root, a parameter evaluated against the root, or `%context`. An expression that does
   * not can be evaluated over any focus with the same result.
   */
  readsFocus: boolean;
}

/** Variables fhirpath binds to the focus itself. */
const FOCUS_VARIABLES: ReadonlySet<string> = new Set(['context', 'resource', 'rootResource']);

/**
 * How fhirpath 5.2.2 evaluates a function's parameters (its invocation table): `each` once per input item with
 * `$this` the item (type Expr, and sort keys), `current` over the input without changing `$this` (ExprAtCurrent);
 * every parameter not listed is evaluated against the enclosing `$this` (the root at the top level).
 */
const PARAMETER_SCOPES: Readonly<Record<string, ReadonlyArray<'each' | 'current' | 'enclosing'>>> = {
  exists: ['each'],
  all: ['each'],
  where: ['each'],
  select: ['each'],
  repeat: ['each'],
  repeatAll: ['each'],
  aggregate: ['each', 'enclosing'],
  iif: ['each', 'each', 'each'],
  trace: ['enclosing', 'each'],
  defineVariable: ['enclosing', 'each'],
  sort: ['each', 'each', 'each', 'each', 'each', 'each', 'each', 'each'],
  coalesce: ['current', 'current', 'current', 'current', 'current', 'current', 'current', 'current'],
};

/** Functions that use their input only as the `$this` of their parameters, never as a value. */
const INPUT_AS_SCOPE_ONLY: ReadonlySet<string> = new Set(['iif']);

interface AstNode {
  type?: string;
  text?: string;
  delimitedText?: string;
  children?: AstNode[];
}

function unquote(text: string): string {
  const inner = text.length >= 2 ? text.slice(1, -1) : text;
  return inner.replace(/\\(.)/g, '$1');
}

function stringLiteralOf(node: AstNode | undefined): string | undefined {
  let n = node;
  while (n && n.type !== 'StringLiteral') {
    if (!n.children || n.children.length !== 1) {
      return undefined;
    }
    n = n.children[0];
  }
  return n?.text !== undefined ? unquote(n.text) : undefined;
}

/**
 * Parses an expression and lists the `%variables` it reads and the functions it calls.
 * @throws Error with fhirpath's parse message when the expression does not parse.
 */
export function analyzeExpression(source: string): ExpressionAnalysis {
  const ast = fhirpath.parse(source) as AstNode;
  const variables = new Set<string>();
  const calls: CallSite[] = [];
  const walk = (node: AstNode): void => {
    if (node.type === 'ExternalConstantTerm') {
      const name = variableName(node);
      if (name !== undefined) {
        variables.add(name);
      }
    }
    if (node.type === 'Functn') {
      const identifier = node.children?.find((c) => c.type === 'Identifier');
      const params = functionParams(node);
      if (identifier?.text !== undefined) {
        const literals = params.map((p) => stringLiteralOf(p));
        const literal = literals[0];
        calls.push({
          name: unquote2(identifier.text),
          params: params.length,
          literals,
          ...(literal !== undefined ? { literal } : {}),
        });
      }
    }
    for (const child of node.children ?? []) {
      walk(child);
    }
  };
  walk(ast);
  return { variables, calls, readsFocus: readsFocus(ast) };
}

function variableName(node: AstNode): string | undefined {
  const name = node.delimitedText !== undefined ? unquote(node.delimitedText) : node.text;
  if (name === undefined) {
    return undefined;
  }
  return name.startsWith('`') || name.startsWith("'") ? unquote(name) : name;
}

function functionParams(functn: AstNode): AstNode[] {
  return functn.children?.find((c) => c.type === 'ParamList')?.children ?? [];
}

/**
 * Whether an expression reads its focus. The walk carries whether the implicit input at each point is the root
 * (the focus): a chain starts there at the top level, inside the parameters of a function applied to the root, and
 * inside parameters evaluated against the enclosing scope while that scope is the root. Conservative: a function
 * applied to the root counts as reading it (unless it only scopes its parameters, as iif does).
 */
function readsFocus(ast: AstNode): boolean {
  let reads = false;
  const walk = (node: AstNode, atRoot: boolean): void => {
    if (reads) {
      return;
    }
    switch (node.type ?? '') {
      case 'InvocationExpression': {
        const [left, right] = node.children ?? [];
        if (left) {
          walk(left, atRoot);
        }
        if (right) {
          invocation(right, false, atRoot);
        }
        return;
      }
      case 'InvocationTerm': {
        const [inner] = node.children ?? [];
        if (inner) {
          invocation(inner, atRoot, atRoot);
        }
        return;
      }
      case 'ExternalConstantTerm': {
        const name = variableName(node);
        if (name !== undefined && FOCUS_VARIABLES.has(name)) {
          reads = true;
        }
        return;
      }
      default:
        for (const child of node.children ?? []) {
          walk(child, atRoot);
        }
    }
  };
  /** An invocation whose input is the root (`inputIsRoot`), in a scope whose `$this` is the root (`scopeIsRoot`). */
  const invocation = (node: AstNode, inputIsRoot: boolean, scopeIsRoot: boolean): void => {
    switch (node.type ?? '') {
      case 'MemberInvocation':
        reads ||= inputIsRoot;
        return;
      case 'ThisInvocation':
        reads ||= scopeIsRoot;
        return;
      case 'IndexInvocation':
      case 'TotalInvocation':
        return;
      case 'FunctionInvocation': {
        const functn = node.children?.find((c) => c.type === 'Functn');
        const name = unquote2(functn?.children?.find((c) => c.type === 'Identifier')?.text ?? '');
        if (inputIsRoot && !INPUT_AS_SCOPE_ONLY.has(name)) {
          reads = true;
          return;
        }
        const scopes = PARAMETER_SCOPES[name] ?? [];
        functionParams(functn ?? {}).forEach((param, i) => {
          const scope = scopes[i] ?? 'enclosing';
          walk(param, scope === 'each' ? inputIsRoot : scope === 'current' ? inputIsRoot || scopeIsRoot : scopeIsRoot);
        });
        return;
      }
      default:
        // Anything else (a future node type): assume it reads the focus.
        reads = true;
    }
  };
  walk(ast, true);
  return reads;
}

function unquote2(identifier: string): string {
  return identifier.startsWith('`') ? unquote(identifier) : identifier;
}

const probeCache = new Map<string, string | null>();

/**
 * Checks that a function fhirpath provides exists and takes `params` parameters (custom functions are checked
 * against CUSTOM_FUNCTIONS by the caller). Returns a problem in words, or undefined when the call is fine.
 */
export function checkBuiltinCall(name: string, params: number): string | undefined {
  const key = `${name}/${params}`;
  const cached = probeCache.get(key);
  if (cached !== undefined) {
    return cached ?? undefined;
  }
  let problem: string | null = null;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    problem = `unknown function ${name}()`;
  } else {
    const args = Array.from({ length: params }, () => '{}').join(', ');
    const warnings: string[] = [];
    // fhirpath reports a wrong number of arguments through console.warn: listen for it during this probe only.
    const warn = console.warn;
    console.warn = (...m: unknown[]): void => {
      warnings.push(m.map(String).join(' '));
    };
    try {
      fhirpath.compile(`{}.${name}(${args})`, r4, { async: false })({}, {});
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (message.startsWith('Not implemented')) {
        problem = `unknown function ${name}()`;
      } else if (message.includes('expects no params')) {
        problem = `${name}() takes no parameters`;
      }
    } finally {
      console.warn = warn;
    }
    if (!problem && warnings.some((w) => w.includes('wrong arity'))) {
      problem = `${name}() does not take ${params} parameter${params === 1 ? '' : 's'}`;
    }
  }
  probeCache.set(key, problem);
  return problem ?? undefined;
}

/** A compiled expression: parse once, evaluate many times. */
export interface CompiledExpression {
  readonly source: string;
  /** The `%variables` it reads. */
  readonly variables: ReadonlySet<string>;
  /** Whether it reads its focus (see ExpressionAnalysis.readsFocus). */
  readonly readsFocus: boolean;
  /**
   * Evaluates over `focus` (a copy) with `vars` (every variable it reads must be a key of `vars`, or fhirpath
   * throws). Results are plain values: resources, strings, numbers, booleans.
   */
  evaluate(focus: unknown, vars: Record<string, unknown>): unknown[];
}

/**
 * Compiles an expression with the r4 model, synchronously, with the given custom functions.
 * @throws Error with fhirpath's message when it does not parse.
 */
export function compileExpression(source: string, table: FunctionTable): CompiledExpression {
  const analysis = analyzeExpression(source);
  const compiled = fhirpath.compile(source, r4, {
    async: false,
    userInvocationTable: table as unknown as fhirpath.UserInvocationTable,
  });
  return {
    source,
    variables: analysis.variables,
    readsFocus: analysis.readsFocus,
    evaluate: (focus, vars) => {
      evaluations.expressions += 1;
      return compiled(focus, vars) as unknown[];
    },
  };
}
