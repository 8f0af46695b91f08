/**
 * A small JSON reader that remembers where every value is.
 *
 * Why not JSON.parse: ckpool reads its config with "stop when done" (text after the
 * closing brace is ignored), and we want every error and warning to name the line it
 * is about. JSON.parse neither stops early nor reports where a value came from, so the
 * config loader parses with this instead. It accepts exactly RFC 8259 JSON (no
 * comments, no trailing commas) and stops after the first complete value.
 */

export interface Pos {
  /** 1-based line number. */
  readonly line: number;
  /** 1-based column (in UTF-16 code units, which is what editors show for ASCII). */
  readonly col: number;
}

export interface JsonEntry {
  readonly key: string;
  readonly keyPos: Pos;
  readonly value: JsonNode;
}

export type JsonNode =
  | { readonly kind: 'object'; readonly pos: Pos; readonly entries: readonly JsonEntry[] }
  | { readonly kind: 'array'; readonly pos: Pos; readonly items: readonly JsonNode[] }
  | { readonly kind: 'string'; readonly pos: Pos; readonly value: string }
  | { readonly kind: 'number'; readonly pos: Pos; readonly value: number; readonly raw: string }
  | { readonly kind: 'boolean'; readonly pos: Pos; readonly value: boolean }
  | { readonly kind: 'null'; readonly pos: Pos };

/** Thrown for malformed JSON; the config loader turns it into a coded error. */
export class JsonSyntaxError extends Error {
  constructor(message: string, readonly pos: Pos) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

export interface ParsedPrefix {
  readonly root: JsonNode;
  /** Offset just past the first value; everything from here on is ignored. */
  readonly end: number;
}

/** Maps string offsets to line/column by binary search over line starts. */
export class LineIndex {
  private readonly starts: number[] = [0];
  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }
  pos(offset: number): Pos {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.starts[lo]! + 1 };
  }
}

// Config files are small and trusted, but a runaway nesting depth should still give
// a clear error rather than a stack overflow.
const MAX_DEPTH = 64;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** Parse the first JSON value of `text`, ignoring whatever follows it. */
export function parseJsonPrefix(text: string): ParsedPrefix {
  return new Reader(text).readDocument();
}

class Reader {
  private i = 0;
  private readonly lines: LineIndex;

  constructor(private readonly text: string) {
    this.lines = new LineIndex(text);
    // An editor-added byte order mark is not an error worth stopping a pool for.
    if (text.charCodeAt(0) === 0xfeff) this.i = 1;
  }

  readDocument(): ParsedPrefix {
    this.skipSpace();
    if (this.i >= this.text.length) this.fail('the file is empty (expected a JSON object)');
    const root = this.readValue(0);
    return { root, end: this.i };
  }

  private fail(message: string, at = this.i): never {
    throw new JsonSyntaxError(message, this.lines.pos(at));
  }

  private describe(at: number): string {
    if (at >= this.text.length) return 'the end of the file';
    const ch = this.text[at]!;
    if (ch === '\n' || ch === '\r') return 'a line break';
    return `'${ch}'`;
  }

  private skipSpace(): void {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(this.i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        this.i++;
        continue;
      }
      // Comments are the most common hand-editing mistake; say so instead of
      // "unexpected '/'".
      if (c === 0x2f && (t[this.i + 1] === '/' || t[this.i + 1] === '*')) {
        this.fail('comments are not allowed inside the JSON; put them after the closing brace');
      }
      if (c === 0x23) this.fail("'#' comments are not allowed inside the JSON; put them after the closing brace");
      return;
    }
  }

  private readValue(depth: number): JsonNode {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH} levels`);
    const t = this.text;
    const start = this.i;
    const pos = this.lines.pos(start);
    const c = t[start];
    switch (c) {
      case '{':
        return this.readObject(depth, pos);
      case '[':
        return this.readArray(depth, pos);
      case '"':
        return { kind: 'string', pos, value: this.readString() };
      case 't':
      case 'f':
      case 'n':
        return this.readLiteral(pos);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.readNumber(pos);
        if (c === "'") this.fail("strings must use double quotes, not single quotes");
        this.fail(`expected a value, found ${this.describe(start)}`);
    }
  }

  private readObject(depth: number, pos: Pos): JsonNode {
    this.i++; // {
    const entries: JsonEntry[] = [];
    this.skipSpace();
    if (this.text[this.i] === '}') {
      this.i++;
      return { kind: 'object', pos, entries };
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.i] !== '"') {
        if (this.text[this.i] === '}' && entries.length > 0) this.fail("trailing comma before '}'");
        this.fail(`expected a key in double quotes, found ${this.describe(this.i)}`);
      }
      const keyPos = this.lines.pos(this.i);
      const key = this.readString();
      this.skipSpace();
      if (this.text[this.i] !== ':') this.fail(`expected ':' after key "${key}", found ${this.describe(this.i)}`);
      this.i++;
      this.skipSpace();
      const value = this.readValue(depth + 1);
      entries.push({ key, keyPos, value });
      this.skipSpace();
      const c = this.text[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === '}') {
        this.i++;
        return { kind: 'object', pos, entries };
      }
      this.fail(`expected ',' or '}' after the value of "${key}", found ${this.describe(this.i)} (missing comma?)`);
    }
  }

  private readArray(depth: number, pos: Pos): JsonNode {
    this.i++; // [
    const items: JsonNode[] = [];
    this.skipSpace();
    if (this.text[this.i] === ']') {
      this.i++;
      return { kind: 'array', pos, items };
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.i] === ']' && items.length > 0) this.fail("trailing comma before ']'");
      items.push(this.readValue(depth + 1));
      this.skipSpace();
      const c = this.text[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === ']') {
        this.i++;
        return { kind: 'array', pos, items };
      }
      this.fail(`expected ',' or ']' in array, found ${this.describe(this.i)} (missing comma?)`);
    }
  }

  private readString(): string {
    const t = this.text;
    const start = this.i;
    let j = start + 1;
    for (;;) {
      if (j >= t.length) this.fail('unterminated string (missing closing quote)', start);
      const c = t.charCodeAt(j);
      if (c === 0x22) break; // "
      if (c === 0x5c) {
        j += 2; // skip the escaped character; JSON.parse below validates the escape
        continue;
      }
      if (c < 0x20) this.fail('line break or control character inside a string (missing closing quote?)', j);
      j++;
    }
    const raw = t.slice(start, j + 1);
    this.i = j + 1;
    try {
      // The raw token is a complete JSON string; let the engine do the unescaping.
      return JSON.parse(raw) as string;
    } catch {
      this.fail('invalid escape sequence in string', start);
    }
  }

  private readNumber(pos: Pos): JsonNode {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.text);
    if (!m) this.fail(`invalid number`);
    const raw = m[0];
    const next = this.text[this.i + raw.length];
    if (next !== undefined && /[0-9A-Za-z_.]/.test(next)) {
      this.fail(`invalid number '${raw}${next}…' (hex, leading zeros and strings need quotes)`);
    }
    this.i += raw.length;
    return { kind: 'number', pos, value: Number(raw), raw };
  }

  private readLiteral(pos: Pos): JsonNode {
    const t = this.text;
    for (const [word, node] of [
      ['true', { kind: 'boolean', pos, value: true }],
      ['false', { kind: 'boolean', pos, value: false }],
      ['null', { kind: 'null', pos }],
    ] as const) {
      if (t.startsWith(word, this.i) && !/[0-9A-Za-z_]/.test(t[this.i + word.length] ?? '')) {
        this.i += word.length;
        return node;
      }
    }
    this.fail(`expected a value, found ${this.describe(this.i)} (strings need double quotes)`);
  }
}

/** A short description of a node's type for "must be X, not Y" messages. */
export function kindName(node: JsonNode): string {
  switch (node.kind) {
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'string':
      return 'a string';
    case 'number':
      return Number.isInteger(node.value) ? 'an integer' : 'a real number';
    case 'boolean':
      return node.value ? 'true' : 'false';
    case 'null':
      return 'null';
  }
}
