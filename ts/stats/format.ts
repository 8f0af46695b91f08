/**
 * Byte-exact re-creations of the C formatting ckpool's stats files depend on:
 *
 * - glibc `printf` `%.Nf` and `%.Ng` (exact decimal expansion of the double, ties to
 *   even — JS `toFixed`/`toPrecision` round ties away from zero, so they are not used);
 * - libckpool.c `suffix_string` (the "31.5M" hashrate strings);
 * - jansson's `json_dumps` (real numbers via `%.{precision}g` + ".0" + exponent
 *   clean-up, `": "`/`", "` separators, `JSON_INDENT(n)`, `JSON_COMPACT`).
 *
 * Values are built as a small typed tree (`J.*`) so that integers, reals and strings
 * are rendered exactly as ckpool's `json_pack` formats ("sI", "sf", "ss") would.
 */

// ---------------------------------------------------------------------------
// exact decimal arithmetic on doubles

const f64 = new DataView(new ArrayBuffer(8));
const pow5Cache: bigint[] = [1n];
function pow5(n: number): bigint {
  for (let i = pow5Cache.length; i <= n; i++) pow5Cache.push(pow5Cache[i - 1]! * 5n);
  return pow5Cache[n]!;
}

/** The exact value of a finite double x > 0 as `BigInt(digits) × 10^exp10`. */
function exactDecimal(x: number): { digits: string; exp10: number } {
  f64.setFloat64(0, x);
  const hi = f64.getUint32(0);
  const lo = f64.getUint32(4);
  const expBits = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (expBits === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = expBits - 1075;
  }
  if (e >= 0) return { digits: (mant << BigInt(e)).toString(), exp10: 0 };
  // mant × 2^e = mant × 5^-e × 10^e
  return { digits: (mant * pow5(-e)).toString(), exp10: e };
}

/**
 * round(D / 10^(len - keep)) for the integer D given by `digits`, ties to even,
 * as a decimal string. keep may exceed the length (zeros appended) or be ≤ 0.
 */
function roundKeep(digits: string, keep: number): string {
  const len = digits.length;
  if (keep >= len) return digits + '0'.repeat(keep - len);
  if (keep < 0) return '0';
  const head = keep === 0 ? 0n : BigInt(digits.slice(0, keep));
  const first = digits.charCodeAt(keep) - 48;
  let up: boolean;
  if (first > 5) up = true;
  else if (first < 5) up = false;
  else {
    let sticky = false;
    for (let i = keep + 1; i < len; i++) if (digits.charCodeAt(i) !== 48) { sticky = true; break; }
    up = sticky || (head & 1n) === 1n;
  }
  return (up ? head + 1n : head).toString();
}

function special(x: number): string | undefined {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return undefined;
}

/** glibc `printf("%.{prec}f", x)`. */
export function formatFixed(x: number, prec: number): string {
  const s = special(x);
  if (s !== undefined) return s;
  if (prec < 0) prec = 6; // C: a negative precision is taken as if omitted
  const neg = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  let n = '0';
  if (a !== 0) {
    const { digits, exp10 } = exactDecimal(a);
    n = roundKeep(digits, digits.length + exp10 + prec);
  }
  n = n.padStart(prec + 1, '0');
  const body = prec > 0 ? `${n.slice(0, n.length - prec)}.${n.slice(n.length - prec)}` : n;
  return neg ? `-${body}` : body;
}

function stripZeros(s: string): string {
  if (!s.includes('.')) return s;
  s = s.replace(/0+$/, '');
  return s.endsWith('.') ? s.slice(0, -1) : s;
}

/** glibc `printf("%.{prec}g", x)`. */
export function formatG(x: number, prec: number): string {
  const s = special(x);
  if (s !== undefined) return s;
  if (prec < 0) prec = 6;
  if (prec === 0) prec = 1;
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const neg = x < 0;
  const a = Math.abs(x);
  const { digits, exp10 } = exactDecimal(a);
  let n = roundKeep(digits, prec);
  let exp = digits.length + exp10 - 1;
  if (n.length > prec) {
    exp += 1;
    n = n.slice(0, prec);
  }
  let body: string;
  if (exp < -4 || exp >= prec) {
    const mant = stripZeros(prec > 1 ? `${n[0]}.${n.slice(1)}` : n);
    body = `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  } else {
    body = stripZeros(formatFixed(a, prec - 1 - exp));
  }
  return neg ? `-${body}` : body;
}

// ---------------------------------------------------------------------------
// libckpool.c suffix_string

const KILO = 1000;
const MEGA = 1000000;
const GIGA = 1000000000;
const TERA = 1000000000000;
const PETA = 1000000000000000;
const EXA = 1000000000000000000;

/**
 * ckpool's `suffix_string(val, buf, 16, sigdigits)`, byte for byte.
 *
 * sigdigits 0 (the stats files): below 1000 the integer part (`%d` of the truncated
 * value); otherwise `%.3g` of the value in K/M/G/T/P/E plus the suffix — e.g.
 * 0 → "0", 999.9 → "999", 31.5e6 → "31.5M", 7.1e3 → "7.1K". Like ckpool, a value
 * just under a unit boundary can print as "1e+03K".
 * sigdigits > 0 (the throbber): `%{sig+1}.{sig-1-floor(log10)}f` plus suffix, e.g.
 * 0 → "0.00", 31.5e6 → "31.5M".
 */
export function suffixString(value: number, sigdigits = 0): string {
  let val = value;
  let suffix = '';
  let decimal = true;
  let dval: number;
  // Same sequence of divisions as the C code, so the doubles match bit for bit.
  if (val >= EXA) {
    val /= PETA;
    dval = val / KILO;
    suffix = 'E';
  } else if (val >= PETA) {
    val /= TERA;
    dval = val / KILO;
    suffix = 'P';
  } else if (val >= TERA) {
    val /= GIGA;
    dval = val / KILO;
    suffix = 'T';
  } else if (val >= GIGA) {
    val /= MEGA;
    dval = val / KILO;
    suffix = 'G';
  } else if (val >= MEGA) {
    val /= KILO;
    dval = val / KILO;
    suffix = 'M';
  } else if (val >= KILO) {
    dval = val / KILO;
    suffix = 'K';
  } else {
    dval = val;
    decimal = false;
  }

  if (!sigdigits) {
    if (decimal) return formatG(dval, 3) + suffix;
    // (unsigned int)dval: truncation; negative/NaN (undefined in C) become 0 here.
    return String(dval > 0 ? Math.trunc(dval) : 0) + suffix;
  }
  const ndigits = sigdigits - 1 - (dval > 0 ? Math.floor(Math.log10(dval)) : 0);
  return formatFixed(dval, ndigits).padStart(sigdigits + 1, ' ') + suffix;
}

/**
 * ckpool's `dsps_from_key`: parse a suffixed hashrate string back to diff-1 shares per
 * second (strtod of the number, ×1000 per suffix step, ÷ 2^32). Unparseable → 0.
 */
export function dspsFromSuffixString(s: unknown): number {
  if (typeof s !== 'string') return 0;
  const m = /^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(.?)/.exec(s);
  if (!m) return 0;
  let ret = Number(m[1]) / 4294967296;
  const suffix = m[2] ?? '';
  const steps = suffix ? 'KMGTPE'.indexOf(suffix) : -1;
  for (let i = 0; i <= steps; i++) ret *= 1000;
  return Number.isFinite(ret) ? ret : 0;
}

// ---------------------------------------------------------------------------
// jansson json_dumps

/** jansson's `jsonp_dtostr`: `%.{precision}g`, ".0" if it looks like an integer, exponent tidied. */
export function janssonReal(x: number, precision = 17): string {
  // jansson cannot hold NaN/Inf (json_real() returns NULL); never emit invalid JSON.
  if (!Number.isFinite(x)) x = 0;
  let s = formatG(x, precision === 0 ? 17 : precision);
  if (!s.includes('.') && !s.includes('e')) s += '.0';
  const e = s.indexOf('e');
  if (e >= 0) {
    let start = e + 1;
    let end = start + 1;
    if (s[start] === '-') start++;
    while (s[end] === '0') end++;
    if (end !== start) s = s.slice(0, start) + s.slice(end);
  }
  return s;
}

/** A JSON value typed the way ckpool packs it. */
export type JVal =
  | { readonly t: 'int'; readonly v: number | bigint }
  | { readonly t: 'real'; readonly v: number }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'null' }
  | { readonly t: 'arr'; readonly v: readonly JVal[] }
  | { readonly t: 'obj'; readonly v: ReadonlyArray<readonly [string, JVal]> };

/** Constructors for typed JSON values. */
export const J = {
  /** An int64 ("sI"); a non-integral number is written as a real (see `i64`). */
  int: (v: number | bigint): JVal => ({ t: 'int', v }),
  real: (v: number): JVal => ({ t: 'real', v }),
  str: (v: string): JVal => ({ t: 'str', v }),
  bool: (v: boolean): JVal => ({ t: 'bool', v }),
  null: (): JVal => ({ t: 'null' }),
  arr: (v: readonly JVal[]): JVal => ({ t: 'arr', v }),
  obj: (v: ReadonlyArray<readonly [string, JVal]>): JVal => ({ t: 'obj', v }),
};

export interface DumpOptions {
  /** JSON_INDENT(n); 0 = one line. */
  readonly indent?: number;
  /** JSON_COMPACT: no space after ':' and ','. */
  readonly compact?: boolean;
  /** JSON_REAL_PRECISION(n); 0 or absent = 17. */
  readonly precision?: number;
}

function dumpString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c >= 0x20) out += s[i];
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else out += `\\u${c.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return `${out}"`;
}

/**
 * Significant digits of a fractional counter. ckpool's int64 fields (diff-weighted
 * share sums, "bestever") hold integral diffs; ours are sums of fractional diffs, so
 * they carry the rounding noise of every addition (0.071 adds up to
 * 0.07100000000000005). Ten digits show any real count exactly enough (a sum of
 * 1e9 is still shown to the unit) and stay clear of that noise, which grows like
 * √(number of shares) × 1e-16 of the sum.
 */
export const COUNTER_DIGITS = 10;

/** A counter that may be fractional, as a JSON number: integral as is, otherwise COUNTER_DIGITS significant digits. */
export function counterText(v: number): string {
  if (Number.isInteger(v)) return Object.is(v, -0) ? '0' : v.toFixed(0);
  // past 10 digits the fraction is noise anyway: a whole number, never an exponent
  if (Math.abs(v) >= 10 ** COUNTER_DIGITS) return Math.round(v).toFixed(0);
  return janssonReal(v, COUNTER_DIGITS);
}

function dumpInt(v: number | bigint): string {
  if (typeof v === 'bigint') return v.toString();
  // a fractional value is written as a real rather than silently truncated as ckpool
  // would (a sub-1 diff pool would otherwise report 0 forever)
  return counterText(v);
}

function indentStr(opts: DumpOptions, depth: number, space: boolean): string {
  const n = opts.indent ?? 0;
  if (n > 0) return `\n${' '.repeat(n * depth)}`;
  return space && !opts.compact ? ' ' : '';
}

/** `json_dumps(value, flags)` for the flags ckpool uses (no trailing newline). */
export function dumpJson(val: JVal, opts: DumpOptions = {}, depth = 0): string {
  const precision = opts.precision ?? 17;
  switch (val.t) {
    case 'int': return dumpInt(val.v);
    case 'real': return janssonReal(val.v, precision);
    case 'str': return dumpString(val.v);
    case 'bool': return val.v ? 'true' : 'false';
    case 'null': return 'null';
    case 'arr': {
      if (val.v.length === 0) return '[]';
      let out = `[${indentStr(opts, depth + 1, false)}`;
      val.v.forEach((item, i) => {
        out += dumpJson(item, opts, depth + 1);
        out += i < val.v.length - 1 ? `,${indentStr(opts, depth + 1, true)}` : indentStr(opts, depth, false);
      });
      return `${out}]`;
    }
    case 'obj': {
      if (val.v.length === 0) return '{}';
      const sep = opts.compact ? ':' : ': ';
      let out = `{${indentStr(opts, depth + 1, false)}`;
      val.v.forEach(([k, item], i) => {
        out += dumpString(k) + sep + dumpJson(item, opts, depth + 1);
        out += i < val.v.length - 1 ? `,${indentStr(opts, depth + 1, true)}` : indentStr(opts, depth, false);
      });
      return `${out}}`;
    }
  }
}

/**
 * The same value as a plain JS object (for APIs); bigints stay bigints. Numbers are
 * rounded exactly as `dumpJson` with the same `precision` writes them, so an API
 * answer says what the file says (0.071, not 0.07100000000000005).
 */
export function toPlain(val: JVal, opts: Pick<DumpOptions, 'precision'> = {}): unknown {
  switch (val.t) {
    case 'int':
      return typeof val.v === 'number' && !Number.isInteger(val.v) ? Number(counterText(val.v)) : val.v;
    case 'real':
      return Number(janssonReal(val.v, opts.precision ?? 17));
    case 'str':
    case 'bool':
      return val.v;
    case 'null': return null;
    case 'arr': return val.v.map((v) => toPlain(v, opts));
    case 'obj': {
      const o: Record<string, unknown> = {};
      for (const [k, v] of val.v) o[k] = toPlain(v, opts);
      return o;
    }
  }
}
