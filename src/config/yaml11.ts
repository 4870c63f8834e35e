import {
  binaryTag,
  constructFromEvents,
  defineScalarTag,
  Event,
  EVENT_ID,
  getScalarValue,
  mergeTag,
  NOT_RESOLVED,
  omapTag,
  pairsTag,
  parseEvents,
  realMapTag,
  SCALAR_STYLE,
  Schema,
  seqTag,
  setTag,
  strTag,
  YAMLException,
} from 'js-yaml';
import { civilToMicros, daysInMonth, Micros, MICROS_PER_MINUTE } from '../time/micros';
import { ConfigurationError } from './errors';

/**
 * YAML as Winchester and StackDistiller read it: PyYAML's `safe_load`, i.e. YAML 1.1 with
 * PyYAML's implicit types (`yes/no/on/off` are booleans but `y/n` are not, `010` is octal,
 * `1:30` is 90, `1e3` is a string, timestamps keep microseconds), merge keys, and duplicate
 * keys allowed (the last one wins). Mappings load as `Map`s so keys keep their YAML type.
 */

/** A YAML 1.1 timestamp, kept to the microsecond (a JS `Date` would drop them). */
export class YamlTimestamp {
  constructor(
    /** The scalar as written. */
    readonly text: string,
    /** The instant; a naive timestamp (no zone) is read as UTC. */
    readonly micros: Micros,
    /** `2014-01-02` alone: Python builds a `date`, not a `datetime`. */
    readonly dateOnly: boolean,
    /** No zone was given: Python builds a naive `datetime`. */
    readonly naive: boolean,
  ) {}
}

/** A position in a source file, both 1-based. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** What to report about a mapping with a key written twice (PyYAML keeps the last silently). */
export interface DuplicateKey {
  key: string;
  position: SourcePosition;
}

/** The warning every configuration file gives for a key written twice in one mapping. */
export function duplicateKeyWarnings(
  filename: string,
  duplicateKeys: readonly DuplicateKey[] = [],
): Array<{ severity: 'warning'; file: string; line: number; column: number; message: string }> {
  return duplicateKeys.map(({ key, position }) => ({
    severity: 'warning',
    file: filename,
    line: position.line,
    column: position.column,
    message: `key ${JSON.stringify(key)} appears twice in one mapping: the last one wins`,
  }));
}

export interface YamlDocument {
  readonly filename: string;
  /** The document's value: `Map` for mappings, arrays, strings, numbers, booleans, null, YamlTimestamp. */
  readonly value: unknown;
  readonly duplicateKeys: readonly DuplicateKey[];
  /**
   * Where the node at `path` (mapping keys as their text, sequence indexes as numbers) was
   * written; for a mapping entry, the position of its key. Keys brought in by a merge (`<<`)
   * are found where their anchor defines them. Stops at the deepest node that exists.
   */
  locate(path: readonly (string | number)[]): SourcePosition;
}

/** A file that is not YAML, with the position of the problem. */
export class YamlSyntaxError extends ConfigurationError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}:${column}: ${reason}`);
    this.name = 'YamlSyntaxError';
  }
}

const BOOL_TRUE = /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/;
const BOOL_FALSE = /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/;
const INT =
  /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const FLOAT =
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const NULL = /^(?:~|null|Null|NULL|)$/;
const TIMESTAMP_IMPLICIT =
  /^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/;
const TIMESTAMP_PARTS =
  /^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9]{1,2})(?::([0-9]{2}))?))?)?$/;

function sexagesimal(text: string, parse: (part: string) => number): number {
  let value = 0;
  for (const part of text.split(':')) value = value * 60 + parse(part);
  return value;
}

function signed(text: string): [sign: number, rest: string] {
  const sign = text[0] === '-' ? -1 : 1;
  return [sign, text[0] === '-' || text[0] === '+' ? text.slice(1) : text];
}

function constructInt(source: string): number | typeof NOT_RESOLVED {
  if (!INT.test(source)) return NOT_RESOLVED;
  const [sign, digits] = signed(source.replace(/_/g, ''));
  if (digits === '0') return 0;
  if (digits.startsWith('0b')) return digits.length > 2 ? sign * parseInt(digits.slice(2), 2) : NOT_RESOLVED;
  if (digits.startsWith('0x')) return digits.length > 2 ? sign * parseInt(digits.slice(2), 16) : NOT_RESOLVED;
  if (digits[0] === '0') return sign * parseInt(digits, 8);
  if (digits.includes(':')) return sign * sexagesimal(digits, (p) => parseInt(p, 10));
  return sign * Number(digits);
}

function constructFloat(source: string): number | typeof NOT_RESOLVED {
  if (!FLOAT.test(source)) return NOT_RESOLVED;
  const [sign, rest] = signed(source.replace(/_/g, '').toLowerCase());
  if (rest === '.inf') return sign * Infinity;
  if (rest === '.nan') return NaN;
  if (rest.includes(':')) return sign * sexagesimal(rest, Number);
  return sign * Number(rest);
}

function constructTimestamp(source: string): YamlTimestamp | typeof NOT_RESOLVED {
  const m = TIMESTAMP_PARTS.exec(source);
  if (!m) return NOT_RESOLVED;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NOT_RESOLVED;
  if (m[4] === undefined)
    return new YamlTimestamp(source, civilToMicros(year, month, day, 0, 0, 0, 0), true, true);
  const [hour, minute, second] = [Number(m[4]), Number(m[5]), Number(m[6])];
  if (hour > 23 || minute > 59 || second > 59) return NOT_RESOLVED;
  const fraction = m[7] ? Number(m[7].slice(0, 6).padEnd(6, '0')) : 0;
  let offset = 0;
  if (m[9]) {
    offset = (Number(m[10]) * 60 + Number(m[11] ?? 0)) * (m[9] === '-' ? -1 : 1);
    if (Math.abs(offset) >= 24 * 60) return NOT_RESOLVED;
  }
  const micros = civilToMicros(year, month, day, hour, minute, second, fraction) - offset * MICROS_PER_MINUTE;
  return new YamlTimestamp(source, micros, false, m[8] === undefined);
}

const TAG = 'tag:yaml.org,2002:';

/** Order matters: PyYAML tries its resolvers in this order (bool, float, int, merge, null, timestamp). */
export const PYYAML_SCHEMA = new Schema([
  strTag,
  seqTag,
  realMapTag,
  defineScalarTag(`${TAG}bool`, {
    implicit: true,
    implicitFirstChars: [...'yYnNtTfFoO'],
    resolve: (s) => (BOOL_TRUE.test(s) ? true : BOOL_FALSE.test(s) ? false : NOT_RESOLVED),
    identify: (d) => typeof d === 'boolean',
  }),
  defineScalarTag(`${TAG}float`, {
    implicit: true,
    implicitFirstChars: [...'-+0123456789.'],
    resolve: constructFloat,
    identify: (d) => typeof d === 'number' && !Number.isInteger(d),
  }),
  defineScalarTag(`${TAG}int`, {
    implicit: true,
    implicitFirstChars: [...'-+0123456789'],
    resolve: constructInt,
    identify: (d) => typeof d === 'number' && Number.isInteger(d),
  }),
  mergeTag,
  defineScalarTag(`${TAG}null`, {
    implicit: true,
    implicitFirstChars: ['~', 'n', 'N', ''],
    resolve: (s) => (NULL.test(s) ? null : NOT_RESOLVED),
    identify: (d) => d === null,
  }),
  defineScalarTag(`${TAG}timestamp`, {
    implicit: true,
    implicitFirstChars: [...'0123456789'],
    resolve: (s, explicit) => (explicit || TIMESTAMP_IMPLICIT.test(s) ? constructTimestamp(s) : NOT_RESOLVED),
    identify: (d) => d instanceof YamlTimestamp,
  }),
  binaryTag,
  omapTag,
  pairsTag,
  setTag,
]);

/** A YAML mapping as loaded (a Map) or already converted to an object; not a sequence or timestamp. */
export function isMapping(value: unknown): value is Map<unknown, unknown> | Record<string, unknown> {
  return (
    value instanceof Map ||
    (value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      !(value instanceof YamlTimestamp))
  );
}

export function entriesOf(value: Map<unknown, unknown> | Record<string, unknown>): [unknown, unknown][] {
  return value instanceof Map ? [...value.entries()] : Object.entries(value);
}

/**
 * A loaded document's mappings as plain objects and its sequences as arrays, for code that
 * wants JSON-shaped values. A node that aliases bring in many times is converted once and
 * shared (a billion-laughs file would otherwise expand exponentially here), and keys are
 * defined, not assigned, so a `__proto__` key stays data.
 */
export function plainFromYaml(value: unknown, options: { nullPrototype?: boolean } = {}): unknown {
  const done = new Map<unknown, unknown>();
  const convert = (v: unknown): unknown => {
    if (!(v instanceof Map) && !Array.isArray(v)) return v;
    if (done.has(v)) return done.get(v);
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      done.set(v, out);
      for (const item of v) out.push(convert(item));
      return out;
    }
    const out = (options.nullPrototype ? Object.create(null) : {}) as Record<string, unknown>;
    done.set(v, out);
    for (const [k, x] of v as Map<unknown, unknown>) {
      Object.defineProperty(out, String(k), {
        value: convert(x),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  };
  return convert(value);
}

interface PositionNode {
  offset: number;
  entries?: Map<string, { keyOffset: number; node: PositionNode }>;
  merges?: PositionNode[];
  items?: PositionNode[];
}

/** Parses one YAML document the way PyYAML's `safe_load` does, keeping where each node was written. */
export function loadYaml11(source: string, filename: string): YamlDocument {
  const lineStarts = [0];
  for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const position = (offset: number): SourcePosition => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo] + 1 };
  };

  let events: Event[];
  let documents: unknown[];
  try {
    events = parseEvents(source, { filename });
    documents = constructFromEvents(events, { source, filename, schema: PYYAML_SCHEMA, json: true });
  } catch (error) {
    if (error instanceof YAMLException) {
      const mark = error.mark;
      const line = (mark?.line ?? 0) + 1;
      let reason = error.reason;
      // The parser often reports a tab-indented line as something else; name the cause.
      if (
        /^ *\t/.test(source.slice(lineStarts[line - 1] ?? 0, lineStarts[line] ?? source.length)) &&
        !/tab/.test(reason)
      ) {
        reason += ' (this line is indented with a tab, which YAML does not allow)';
      }
      throw new YamlSyntaxError(filename, line, (mark?.column ?? 0) + 1, reason);
    }
    throw error;
  }
  if (documents.length > 1) {
    throw new YamlSyntaxError(filename, 1, 1, 'expected a single document in the stream, found several');
  }

  const duplicateKeys: DuplicateKey[] = [];
  const root = buildPositions(events, source, (key, offset) =>
    duplicateKeys.push({ key, position: position(offset) }),
  );
  return {
    filename,
    value: documents.length ? documents[0] : null,
    duplicateKeys,
    locate(path) {
      let node = root;
      let offset = root?.offset ?? 0;
      for (const step of path) {
        if (!node) break;
        if (typeof step === 'number') {
          const item = node.items?.[step];
          if (!item) break;
          node = item;
          offset = item.offset;
        } else {
          const entry = findEntry(node, step, 0, new Set());
          if (!entry) break;
          node = entry.node;
          offset = entry.keyOffset;
        }
      }
      return position(offset);
    },
  };
}

/** `seen`: an anchor merged many times over (`<<: [*a, *a, …]`, nested) is searched once, not exponentially often. */
function findEntry(
  node: PositionNode,
  key: string,
  depth: number,
  seen: Set<PositionNode>,
): { keyOffset: number; node: PositionNode } | undefined {
  const own = node.entries?.get(key);
  if (own || !node.merges || depth > 32) return own;
  for (const merged of node.merges) {
    if (seen.has(merged)) continue;
    seen.add(merged);
    const found = findEntry(merged, key, depth + 1, seen);
    if (found) return found;
  }
  return undefined;
}

/** A skeleton of the document from the parser's events: offsets of nodes and keys, anchors resolved. */
function buildPositions(
  events: Event[],
  source: string,
  onDuplicate: (key: string, offset: number) => void,
): PositionNode | undefined {
  const anchors = new Map<string, PositionNode>();
  let i = 0;
  const anchor = (start: number, end: number, node: PositionNode) => {
    if (start >= 0) anchors.set(source.slice(start, end), node);
  };
  const next = (): PositionNode => {
    const event = events[i++];
    switch (event.type) {
      case EVENT_ID.SCALAR: {
        const node = { offset: event.valueStart };
        anchor(event.anchorStart, event.anchorEnd, node);
        return node;
      }
      case EVENT_ID.ALIAS:
        return anchors.get(source.slice(event.anchorStart, event.anchorEnd)) ?? { offset: event.anchorStart };
      case EVENT_ID.SEQUENCE: {
        const node: PositionNode = { offset: event.start, items: [] };
        anchor(event.anchorStart, event.anchorEnd, node);
        while (events[i].type !== EVENT_ID.POP) node.items!.push(next());
        i++;
        return node;
      }
      case EVENT_ID.MAPPING: {
        const node: PositionNode = { offset: event.start, entries: new Map() };
        anchor(event.anchorStart, event.anchorEnd, node);
        while (events[i].type !== EVENT_ID.POP) {
          const keyEvent = events[i];
          const keyText = keyEvent.type === EVENT_ID.SCALAR ? getScalarValue(source, keyEvent) : undefined;
          const isMerge =
            keyEvent.type === EVENT_ID.SCALAR &&
            keyEvent.style === SCALAR_STYLE.PLAIN &&
            keyEvent.tagStart < 0 &&
            keyText === '<<';
          const keyNode = next();
          const value = next();
          if (isMerge) {
            (node.merges ??= []).push(...(value.items ?? [value]));
          } else if (keyText !== undefined) {
            if (node.entries!.has(keyText)) onDuplicate(keyText, keyNode.offset);
            node.entries!.set(keyText, { keyOffset: keyNode.offset, node: value });
          }
        }
        i++;
        return node;
      }
      default:
        return { offset: 0 };
    }
  };
  while (i < events.length) {
    const event = events[i++];
    if (event.type === EVENT_ID.DOCUMENT) {
      if (events[i]?.type === EVENT_ID.POP) return undefined;
      return next();
    }
  }
  return undefined;
}
