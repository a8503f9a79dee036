/**
 * Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource): `500m`, `1.5Gi`, `2`, `1e3`.
 * Parsing is exact (BigInt rationals), so comparisons such as "requests ≤ limits" never suffer float
 * rounding; the numbers handed out (`milliValue`, `value`) round up like Quantity.MilliValue()/Value().
 * `canonical` is Quantity.String(): the form Kubernetes echoes back and prints in error messages.
 * The scheduler uses milliValue for CPU and value (bytes) for memory.
 */

/** How the quantity was written, which decides how it prints. */
export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

/** A parsed quantity. */
export interface Quantity {
  /** Exact value = num / den (den a positive power of ten). */
  readonly num: bigint;
  readonly den: bigint;
  readonly format: QuantityFormat;
  /** Quantity.String(): `1536Mi`, `500m`, `2`, `1e3`. */
  readonly canonical: string;
  /** Thousandths, rounded up (MilliValue): CPU `250m` → 250, `1` → 1000. */
  readonly milliValue: number;
  /** Whole units, rounded up (Value): memory `1Ki` → 1024, CPU `250m` → 1. */
  readonly value: number;
}

/** Parse result; errors are values with Kubernetes' messages. */
export type QuantityResult = { ok: true; quantity: Quantity } | { ok: false; error: string };

/** The regular expression Kubernetes names in its format error. */
export const quantityRegexp = '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$';
/** ErrFormatWrong. */
export const errQuantityFormat = `quantities must match the regular expression '${quantityRegexp}'`;
/** ErrNumeric. */
export const errQuantityNumeric = 'unable to parse numeric part of quantity';
/** ErrSuffix. */
export const errQuantitySuffix = "unable to parse quantity's suffix";

const binarySuffixes: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const decimalSuffixes: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

const big10 = 10n;
function pow10(e: number): bigint {
  return big10 ** BigInt(e);
}

/**
 * Parses a quantity as JSON carries it: a string, or a bare number (which Kubernetes also accepts).
 */
export function parseQuantity(input: unknown): QuantityResult {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { ok: false, error: errQuantityFormat };
    return parseQuantity(numberToQuantityString(input));
  }
  if (typeof input !== 'string' || input.length === 0) return { ok: false, error: errQuantityFormat };
  const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$/.exec(input);
  if (m === null) return { ok: false, error: errQuantityFormat };
  const sign = m[1] === '-' ? -1n : 1n;
  const whole = m[2] ?? '';
  const frac = m[3] ?? '';
  const suffix = m[4] ?? '';
  if (whole.length === 0 && frac.length === 0) return { ok: false, error: errQuantityFormat };
  if (!/^[eEinumkKMGTP]*[-+]?[0-9]*$/.test(suffix)) return { ok: false, error: errQuantityFormat };

  let num = sign * BigInt((whole || '0') + frac);
  let den = pow10(frac.length);
  let format: QuantityFormat;
  if (Object.hasOwn(binarySuffixes, suffix)) {
    format = 'BinarySI';
    num *= 2n ** BigInt(binarySuffixes[suffix] ?? 0);
  } else if (Object.hasOwn(decimalSuffixes, suffix)) {
    format = 'DecimalSI';
    const e = decimalSuffixes[suffix] ?? 0;
    if (e >= 0) num *= pow10(e);
    else den *= pow10(-e);
  } else {
    const exp = /^[eE]([-+]?[0-9]+)$/.exec(suffix);
    if (exp === null) return { ok: false, error: errQuantitySuffix };
    const e = Number(exp[1]);
    if (Math.abs(e) > 1000) return { ok: false, error: errQuantityNumeric };
    format = 'DecimalExponent';
    if (e >= 0) num *= pow10(e);
    else den *= pow10(-e);
  }
  // Kubernetes keeps nothing finer than nano-units; it rounds up (away from zero) to the next nano.
  const nanoDen = pow10(9);
  if (den > nanoDen) {
    const scale = den / nanoDen;
    num = ceilDivAway(num, scale);
    den = nanoDen;
  }
  ({ num, den } = reduce(num, den));
  return { ok: true, quantity: makeQuantity(num, den, format) };
}

function numberToQuantityString(n: number): string {
  // JSON numbers such as 0.5 or 1e21 become decimal strings without exponent loss for typical values.
  const s = String(n);
  if (!s.includes('e')) return s;
  const [mant = '0', exp = '0'] = s.split('e');
  return `${mant}e${Number(exp)}`;
}

function ceilDivAway(a: bigint, b: bigint): bigint {
  const q = a / b;
  if (q * b === a) return q;
  return a > 0n ? q + 1n : q - 1n;
}

function reduce(num: bigint, den: bigint): { num: bigint; den: bigint } {
  while (den > 1n && num % 10n === 0n) {
    num /= 10n;
    den /= 10n;
  }
  return { num, den };
}

function makeQuantity(num: bigint, den: bigint, format: QuantityFormat): Quantity {
  return {
    num,
    den,
    format,
    canonical: canonicalString(num, den, format),
    milliValue: Number(ceilDiv(num * 1000n, den)),
    value: Number(ceilDiv(num, den)),
  };
}

// Ceiling for positive values, like Quantity's rounding; negatives round toward zero as Go's does.
function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a > 0n && q * b !== a ? q + 1n : q;
}

/** Compares two quantities exactly: negative, zero or positive. */
export function compareQuantities(a: Quantity, b: Quantity): number {
  const l = a.num * b.den;
  const r = b.num * a.den;
  return l < r ? -1 : l > r ? 1 : 0;
}

/** True when the quantity is below zero. */
export function isNegative(q: Quantity): boolean {
  return q.num < 0n;
}

/** MilliValue of a quantity string/number, or undefined if it does not parse. */
export function toMilliValue(input: unknown): number | undefined {
  const r = parseQuantity(input);
  return r.ok ? r.quantity.milliValue : undefined;
}

/** Value (whole units, e.g. bytes) of a quantity string/number, or undefined if it does not parse. */
export function toValue(input: unknown): number | undefined {
  const r = parseQuantity(input);
  return r.ok ? r.quantity.value : undefined;
}

const decimalBySuffixExp: Record<number, string> = {
  [-9]: 'n',
  [-6]: 'u',
  [-3]: 'm',
  0: '',
  3: 'k',
  6: 'M',
  9: 'G',
  12: 'T',
  15: 'P',
  18: 'E',
};
const binaryByExp = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

function canonicalString(num: bigint, den: bigint, requested: QuantityFormat): string {
  if (num === 0n) return '0';
  let format = requested;
  if (format === 'BinarySI') {
    const small = num * 1n > -1024n * den && num < 1024n * den;
    if (small || num % den !== 0n) format = 'DecimalSI';
  }
  const neg = num < 0n;
  const abs = neg ? -num : num;
  const sign = neg ? '-' : '';
  if (format === 'BinarySI') {
    let n = abs / den;
    let k = 0;
    while (k < 6 && n % 1024n === 0n) {
      n /= 1024n;
      k++;
    }
    return `${sign}${n.toString()}${binaryByExp[k] ?? ''}`;
  }
  // Decimal: value = mantissa × 10^exp with exp a multiple of 3 and the mantissa an integer.
  let mantissa = abs;
  let exp = -Math.round(Math.log10(Number(den)));
  while (mantissa % 10n === 0n && mantissa !== 0n) {
    mantissa /= 10n;
    exp++;
  }
  const e3 = Math.floor(exp / 3) * 3;
  mantissa *= pow10(exp - e3);
  exp = e3;
  if (format === 'DecimalExponent') return `${sign}${mantissa.toString()}${exp === 0 ? '' : `e${exp}`}`;
  if (exp > 18) {
    mantissa *= pow10(exp - 18);
    exp = 18;
  }
  return `${sign}${mantissa.toString()}${decimalBySuffixExp[exp] ?? ''}`;
}
