/**
 * Label selectors (k8s.io/apimachinery/pkg/labels): the string syntax of `?labelSelector=` and
 * `kubectl -l` (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`,
 * comma-separated, spaces allowed), and `metav1.LabelSelector` objects (matchLabels +
 * matchExpressions). Parsing follows Kubernetes' lexer and parser, and bad input comes back as an
 * error value with Kubernetes' message, for the server to send as a 400.
 */

import { aggregateCauses, invalidValue, notSupported, type StatusCause } from '../status.js';
import { asArray, asObject, asString } from '../validation/json-access.js';
import { isQualifiedName, isValidLabelValue } from '../validation/names.js';

/** selection.Operator values. */
export type Operator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt';

/** One AND-ed condition. `values` is sorted and de-duplicated, as Kubernetes keeps it. */
export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  readonly values: readonly string[];
}

/** A label set: labels of an object. */
export type Labels = Readonly<Record<string, string>>;

/** A compiled selector. */
export interface LabelSelector {
  /** The requirements, sorted by key; empty for "everything" and for "nothing". */
  readonly requirements: readonly Requirement[];
  /** True when every requirement holds for `labels` (missing labels = {}). */
  matches(labels: Labels | undefined): boolean;
  /** True when the selector places no restriction (empty string or `{}` selector). */
  isEverything(): boolean;
  /** True only for the selector that matches nothing (a missing `metav1.LabelSelector`). */
  isNothing(): boolean;
  /** If the selector pins `key` to one value (`=`, `==`, or `in` with one value), that value. */
  requiresExactMatch(key: string): string | undefined;
  /** Kubernetes' normalised string form, e.g. `app=web,tier in (a,b)`. */
  toString(): string;
}

/** Result of building a selector; errors are values. */
export type LabelSelectorResult = { ok: true; selector: LabelSelector } | { ok: false; error: string };

const binaryOperators: readonly string[] = ['in', 'notin', '=', '==', '!=', 'gt', 'lt'];
const validOperators: readonly string[] = [...binaryOperators, 'exists', '!'];

class RequirementsSelector implements LabelSelector {
  readonly requirements: readonly Requirement[];

  constructor(requirements: readonly Requirement[]) {
    this.requirements = [...requirements].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  matches(labels: Labels | undefined): boolean {
    const ls = labels ?? {};
    return this.requirements.every((r) => requirementMatches(r, ls));
  }

  isEverything(): boolean {
    return this.requirements.length === 0;
  }

  isNothing(): boolean {
    return false;
  }

  requiresExactMatch(key: string): string | undefined {
    const r = this.requirements.find((x) => x.key === key);
    if (r === undefined) return undefined;
    if ((r.operator === '=' || r.operator === '==' || r.operator === 'in') && r.values.length === 1)
      return r.values[0];
    return undefined;
  }

  toString(): string {
    return this.requirements.map(requirementString).join(',');
  }
}

const nothingSelector: LabelSelector = {
  requirements: [],
  matches: () => false,
  isEverything: () => false,
  isNothing: () => true,
  requiresExactMatch: () => undefined,
  toString: () => '',
};

/** The selector that matches every label set. */
export const everything: LabelSelector = new RequirementsSelector([]);

/** The selector that matches nothing (what a nil `metav1.LabelSelector` means). */
export const nothing: LabelSelector = nothingSelector;

function requirementMatches(r: Requirement, ls: Labels): boolean {
  const has = Object.hasOwn(ls, r.key);
  const val = has ? ls[r.key] : undefined;
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return val !== undefined && r.values.includes(val);
    case 'notin':
    case '!=':
      return val === undefined || !r.values.includes(val);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (val === undefined || !/^[+-]?\d+$/.test(val)) return false;
      const want = r.values[0];
      if (want === undefined || r.values.length !== 1) return false;
      const lhs = BigInt(val);
      const rhs = BigInt(want);
      return r.operator === 'gt' ? lhs > rhs : lhs < rhs;
    }
  }
}

function requirementString(r: Requirement): string {
  switch (r.operator) {
    case '!':
      return `!${r.key}`;
    case 'exists':
      return r.key;
    case 'in':
    case 'notin':
      return `${r.key} ${r.operator} (${r.values.join(',')})`;
    case 'gt':
      return `${r.key}>${r.values.join(',')}`;
    case 'lt':
      return `${r.key}<${r.values.join(',')}`;
    case '=':
    case '==':
    case '!=':
      return `${r.key}${r.operator}${r.values.join(',')}`;
  }
}

function sortedUnique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

/**
 * labels.NewRequirement: validates the key, the operator's value count and each value. Errors are
 * field errors on `key` / `values` aggregated into one string, exactly as Kubernetes reports them.
 */
export function newRequirement(
  key: string,
  operator: string,
  values: readonly string[],
): { ok: true; requirement: Requirement } | { ok: false; error: string } {
  const causes: StatusCause[] = [];
  const keyErrs = isQualifiedName(key);
  if (keyErrs.length > 0) causes.push(invalidValue('key', key, keyErrs.join('; ')));
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0)
        causes.push(invalidValue('values', values, "for 'in', 'notin' operators, values set can't be empty"));
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1)
        causes.push(invalidValue('values', values, 'exact-match compatibility requires one single value'));
      break;
    case 'exists':
    case '!':
      if (values.length !== 0)
        causes.push(invalidValue('values', values, 'values set must be empty for exists and does not exist'));
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1)
        causes.push(
          invalidValue('values', values, "for 'Gt', 'Lt' operators, exactly one value is required"),
        );
      values.forEach((v, i) => {
        if (!/^[+-]?\d+$/.test(v)) {
          causes.push(
            invalidValue(`values[${i}]`, v, "for 'Gt', 'Lt' operators, the value must be an integer"),
          );
        }
      });
      break;
    default:
      causes.push(notSupported('operator', operator, validOperators));
  }
  values.forEach((v, i) => {
    const errs = isValidLabelValue(v);
    if (errs.length > 0) causes.push(invalidValue(`values[${i}][${key}]`, v, errs.join('; ')));
  });
  if (causes.length > 0) return { ok: false, error: aggregateCauses(causes) };
  return { ok: true, requirement: { key, operator: operator as Operator, values: sortedUnique(values) } };
}

/** Builds a selector from requirements (no validation; use {@link newRequirement} for that). */
export function selectorFromRequirements(requirements: readonly Requirement[]): LabelSelector {
  return new RequirementsSelector(requirements);
}

/** SelectorFromSet: `key=value` for every entry; an empty set selects everything. */
export function selectorFromSet(set: Labels | undefined): LabelSelector {
  return new RequirementsSelector(
    Object.entries(set ?? {}).map(([key, v]) => ({ key, operator: '=', values: [v] })),
  );
}

/**
 * The `metav1.LabelSelector` shape (client-node's `V1LabelSelector` fits it). Typed loosely because
 * it usually comes straight from request JSON.
 */
export interface LabelSelectorObject {
  matchLabels?: Readonly<Record<string, unknown>> | undefined;
  matchExpressions?:
    readonly { key?: unknown; operator?: unknown; values?: readonly unknown[] | undefined }[] | undefined;
}

/**
 * metav1.LabelSelectorAsSelector: a missing selector (undefined/null) selects nothing, an empty one
 * everything; operators In/NotIn/Exists/DoesNotExist; keys and values are validated.
 */
export function labelSelectorFromObject(sel: LabelSelectorObject | null | undefined): LabelSelectorResult {
  if (sel === undefined || sel === null) return { ok: true, selector: nothing };
  const matchLabels = asObject(sel.matchLabels) ?? {};
  const exprs = asArray(sel.matchExpressions);
  if (Object.keys(matchLabels).length + exprs.length === 0) return { ok: true, selector: everything };
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(matchLabels)) {
    const r = newRequirement(k, '=', [asString(v)]);
    if (!r.ok) return r;
    reqs.push(r.requirement);
  }
  const ops: Record<string, Operator> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' };
  for (const e of exprs) {
    const expr = asObject(e) ?? {};
    const operator = asString(expr['operator']);
    const op = Object.hasOwn(ops, operator) ? ops[operator] : undefined;
    if (op === undefined)
      return { ok: false, error: `${JSON.stringify(operator)} is not a valid label selector operator` };
    const r = newRequirement(asString(expr['key']), op, asArray(expr['values']).map(asString));
    if (!r.ok) return r;
    reqs.push(r.requirement);
  }
  return { ok: true, selector: new RequirementsSelector(reqs) };
}

// ---------------------------------------------------------------------------------------------------
// The string syntax. A byte-for-byte port of labels.Lexer/Parser so that error messages match.

type Token =
  | 'error'
  | 'eos'
  | 'closedPar'
  | 'comma'
  | 'doesNotExist'
  | 'doubleEquals'
  | 'equals'
  | 'greaterThan'
  | 'identifier'
  | 'in'
  | 'lessThan'
  | 'notEquals'
  | 'notIn'
  | 'openPar';

interface Item {
  tok: Token;
  lit: string;
}

const string2token: Record<string, Token> = {
  ')': 'closedPar',
  ',': 'comma',
  '!': 'doesNotExist',
  '==': 'doubleEquals',
  '=': 'equals',
  '>': 'greaterThan',
  in: 'in',
  '<': 'lessThan',
  '!=': 'notEquals',
  notin: 'notIn',
  '(': 'openPar',
};

function tokenFor(s: string): Token | undefined {
  return Object.hasOwn(string2token, s) ? string2token[s] : undefined;
}

const isWhitespace = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
const isSpecial = (ch: string): boolean => '=!(),><'.includes(ch) && ch !== '';

function lex(s: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  const read = (): string => (pos < s.length ? (s[pos++] ?? '') : '');
  for (;;) {
    let ch = read();
    while (ch !== '' && isWhitespace(ch)) ch = read();
    if (ch === '') {
      items.push({ tok: 'eos', lit: '' });
      return items;
    }
    pos--;
    if (isSpecial(ch)) {
      let buffer = '';
      let last: Item | undefined;
      for (;;) {
        const c = read();
        if (c === '') break;
        if (isSpecial(c)) {
          buffer += c;
          const t = tokenFor(buffer);
          if (t !== undefined) last = { tok: t, lit: buffer };
          else if (last !== undefined) {
            pos--;
            break;
          }
        } else {
          pos--;
          break;
        }
      }
      items.push(last ?? { tok: 'error', lit: `error expected: keyword found '${buffer}'` });
    } else {
      let buffer = '';
      for (;;) {
        const c = read();
        if (c === '') break;
        if (isSpecial(c) || isWhitespace(c)) {
          pos--;
          break;
        }
        buffer += c;
      }
      items.push({ tok: tokenFor(buffer) ?? 'identifier', lit: buffer });
    }
  }
}

class ParseError extends Error {}

class Parser {
  private readonly items: Item[];
  private position = 0;

  constructor(items: Item[]) {
    this.items = items;
  }

  // In a values context the keywords `in`/`notin` are ordinary identifiers.
  private lookahead(values: boolean): Item {
    const it = this.items[this.position] ?? { tok: 'eos', lit: '' };
    return values && (it.tok === 'in' || it.tok === 'notIn') ? { tok: 'identifier', lit: it.lit } : it;
  }

  private consume(values: boolean): Item {
    const it = this.lookahead(values);
    this.position++;
    return it;
  }

  parse(): Requirement[] {
    const reqs: Requirement[] = [];
    for (;;) {
      const { tok, lit } = this.lookahead(true);
      switch (tok) {
        case 'identifier':
        case 'doesNotExist': {
          let r: Requirement;
          try {
            r = this.parseRequirement();
          } catch (err) {
            if (err instanceof ParseError)
              throw new ParseError(`unable to parse requirement: ${err.message}`);
            throw err;
          }
          reqs.push(r);
          const next = this.consume(true);
          if (next.tok === 'eos') return reqs;
          if (next.tok === 'comma') {
            const t2 = this.lookahead(true);
            if (t2.tok !== 'identifier' && t2.tok !== 'doesNotExist') {
              throw new ParseError(`found '${t2.lit}', expected: identifier after ','`);
            }
            break;
          }
          throw new ParseError(`found '${next.lit}', expected: ',' or 'end of string'`);
        }
        case 'eos':
          return reqs;
        default:
          throw new ParseError(`found '${lit}', expected: !, identifier, or 'end of string'`);
      }
    }
  }

  private parseRequirement(): Requirement {
    const { key, operator } = this.parseKeyAndInferOperator();
    if (operator === 'exists' || operator === '!') return this.newReq(key, operator, []);
    const op = this.parseOperator();
    const values = op === 'in' || op === 'notin' ? this.parseValues() : this.parseExactValue();
    // Kubernetes collects values in a set and validates its sorted list; error indexes follow that.
    return this.newReq(key, op, sortedUnique(values));
  }

  private newReq(key: string, op: Operator, values: string[]): Requirement {
    const r = newRequirement(key, op, values);
    if (!r.ok) throw new ParseError(r.error);
    return r.requirement;
  }

  private parseKeyAndInferOperator(): { key: string; operator: Operator | '' } {
    let operator: Operator | '' = '';
    let it = this.consume(true);
    if (it.tok === 'doesNotExist') {
      operator = '!';
      it = this.consume(true);
    }
    if (it.tok !== 'identifier') throw new ParseError(`found '${it.lit}', expected: identifier`);
    const keyErrs = isQualifiedName(it.lit);
    if (keyErrs.length > 0) {
      // Kubernetes validates with a nil field path here, which prints as "<nil>".
      const c = invalidValue('<nil>', it.lit, keyErrs.join('; '));
      throw new ParseError(aggregateCauses([c]));
    }
    const t = this.lookahead(true).tok;
    if ((t === 'eos' || t === 'comma') && operator !== '!') operator = 'exists';
    return { key: it.lit, operator };
  }

  private parseOperator(): Operator {
    const { tok, lit } = this.consume(false);
    const ops: Partial<Record<Token, Operator>> = {
      in: 'in',
      equals: '=',
      doubleEquals: '==',
      greaterThan: 'gt',
      lessThan: 'lt',
      notIn: 'notin',
      notEquals: '!=',
    };
    const op = ops[tok];
    if (op === undefined) throw new ParseError(`found '${lit}', expected: ${binaryOperators.join(', ')}`);
    return op;
  }

  private parseValues(): string[] {
    const open = this.consume(true);
    if (open.tok !== 'openPar') throw new ParseError(`found '${open.lit}' expected: '('`);
    const { tok, lit } = this.lookahead(true);
    switch (tok) {
      case 'identifier':
      case 'comma': {
        const s = this.parseIdentifiersList();
        if (this.consume(true).tok !== 'closedPar') throw new ParseError(`found '${lit}', expected: ')'`);
        return s;
      }
      case 'closedPar':
        this.consume(true);
        return [''];
      default:
        throw new ParseError(`found '${lit}', expected: ',', ')' or identifier`);
    }
  }

  private parseIdentifiersList(): string[] {
    const s = new Set<string>();
    for (;;) {
      const { tok, lit } = this.consume(true);
      if (tok === 'identifier') {
        s.add(lit);
        const next = this.lookahead(true);
        if (next.tok === 'comma') continue;
        if (next.tok === 'closedPar') return [...s];
        throw new ParseError(`found '${next.lit}', expected: ',' or ')'`);
      }
      if (tok === 'comma') {
        if (s.size === 0) s.add('');
        const t2 = this.lookahead(true).tok;
        if (t2 === 'closedPar') {
          s.add('');
          return [...s];
        }
        if (t2 === 'comma') s.add('');
        continue;
      }
      throw new ParseError(`found '${lit}', expected: ',', or identifier`);
    }
  }

  private parseExactValue(): string[] {
    const t = this.lookahead(true).tok;
    if (t === 'eos' || t === 'comma') return [''];
    const { tok, lit } = this.consume(true);
    if (tok === 'identifier') return [lit];
    throw new ParseError(`found '${lit}', expected: identifier`);
  }
}

/**
 * labels.Parse: the `?labelSelector=` / `kubectl -l` syntax. An empty or blank string selects
 * everything. On bad input returns Kubernetes' message, e.g.
 * `unable to parse requirement: found 'bar', expected: in, notin, =, ==, !=, gt, lt`.
 */
export function parseLabelSelector(input: string): LabelSelectorResult {
  try {
    const reqs = new Parser(lex(input)).parse();
    return { ok: true, selector: new RequirementsSelector(reqs) };
  } catch (err) {
    if (err instanceof ParseError) return { ok: false, error: err.message };
    throw err;
  }
}
