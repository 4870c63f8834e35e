import { readFileSync } from 'node:fs';
import {
  DuplicateKey,
  duplicateKeyWarnings,
  entriesOf,
  isMapping,
  loadYaml11,
  SourcePosition,
  YamlSyntaxError,
  YamlTimestamp,
} from '../config/yaml11';
import { civilToMicros, Micros } from '../time/micros';
import { parseTimex, TimexEvaluationError, TimexExpression, TimexParseError } from '../timex';
import {
  COMPARISON_OPERATORS,
  ComparisonOperator,
  ConstantCriterion,
  ConstantValue,
  Criteria,
  CriteriaRole,
  NumericCriterion,
  TimeCriterion,
  TraitCriterion,
} from './criteria';
import { DistinguishingTrait, TriggerDefinition } from './definition';
import { TriggerConfigError } from './errors';
import { ConfigProblem } from '../config/errors';

/** The keys a trigger may have: upstream's, which it read without checking any. */
export const TRIGGER_KEYS = [
  'name',
  'debug_level',
  'distinguished_by',
  'expiration',
  'fire_delay',
  'fire_pipeline',
  'expire_pipeline',
  'match_criteria',
  'fire_criteria',
  'load_criteria',
] as const;

/** The keys a criterion may have; `map_distingushed_by` is the misspelling of upstream's sample. */
export const CRITERIA_KEYS = [
  'event_type',
  'timestamp',
  'traits',
  'number',
  'map_distinguished_by',
  'map_distingushed_by',
] as const;

/** Trait criterion types: `{int: "> 4096"}` and so on. */
export const TRAIT_CRITERION_TYPES = ['int', 'float', 'datetime', 'string', 'text'] as const;

/** What `expiration` may read: the stream's first and last event times and the clock's now. */
const EXPIRATION_VARIABLES: ReadonlySet<string> = new Set(['first', 'last', 'timestamp']);
/** A `{trait: timex}` grouping sees the trait's value as `$timestamp`, and nothing else. */
const GROUPING_VARIABLES: ReadonlySet<string> = new Set(['timestamp']);

export interface TriggerLoadOptions {
  /** The pipelines pipelines.yaml defines; when given, a trigger naming another one is an error. */
  pipelines?: Iterable<string>;
}

export interface TriggerLoadResult {
  triggers: TriggerDefinition[];
  errors: ConfigProblem[];
  warnings: ConfigProblem[];
}

/** A parsed triggers file: its value (YAML mappings as Maps or plain objects) and where nodes are. */
export interface TriggerSource {
  filename: string;
  value: unknown;
  locate?(path: readonly (string | number)[]): SourcePosition;
  duplicateKeys?: readonly DuplicateKey[];
}

type Path = (string | number)[];

/** How a YAML value reads in a message. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof YamlTimestamp) return `the ${value.dateOnly ? 'date' : 'timestamp'} ${value.text}`;
  if (isMapping(value)) return 'a mapping';
  if (typeof value === 'string') return `the text ${JSON.stringify(value)}`;
  if (typeof value === 'boolean') return `the boolean ${value} (YAML 1.1 reads yes/no/on/off as booleans)`;
  if (typeof value === 'number') return `the number ${value}`;
  return String(value);
}

/** Edit distance, to suggest the key someone meant. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

function suggestion(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = distance(word, candidate);
    // close, and not most of the word (`p` is not a typo of `q`)
    if (d < bestDistance && d * 2 < word.length) [best, bestDistance] = [candidate, d];
  }
  return best ? ` (did you mean ${best}?)` : '';
}

const INT_TEXT = /^[+-]?\d(?:_?\d)*$/;
const FLOAT_TEXT = /^[+-]?(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.?)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const FLOAT_SPECIAL = /^([+-]?)(inf|infinity|nan)$/i;

/** Python's `int(text)` / `float(text)` on an already stripped text; undefined when Python would raise. */
function pythonNumber(text: string, type: 'int' | 'float'): number | undefined {
  if (type === 'int') return INT_TEXT.test(text) ? Number(text.replace(/_/g, '')) : undefined;
  const special = FLOAT_SPECIAL.exec(text);
  if (special) {
    if (special[2].toLowerCase() === 'nan') return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  return FLOAT_TEXT.test(text) ? Number(text.replace(/_/g, '')) : undefined;
}

/** Instants across the range timex computes (1684–2255, to the µs). */
const SAMPLE_TIMES: readonly Micros[] = [1700, 1900, 2000, 2100, 2250].map((y) =>
  civilToMicros(y, 1, 1, 0, 0, 0, 0),
);

/**
 * Why an expression fails with every variable at each sample time (`$last + 300000y`), or null:
 * such an expression would load and then fail on every stream.
 */
function neverComputable(expression: TimexExpression): string | null {
  let reason: string | null = null;
  for (const t of SAMPLE_TIMES) {
    try {
      expression.evaluate(() => t);
      return null;
    } catch (error) {
      if (!(error instanceof TimexEvaluationError)) throw error;
      reason = error.message;
    }
  }
  return reason;
}

interface TriggerContext {
  trigger: string;
  /** Names in `distinguished_by`, for checking `map_distinguished_by`. */
  distinguishing: ReadonlySet<string>;
}

class TriggerCompiler {
  readonly errors: ConfigProblem[] = [];
  readonly warnings: ConfigProblem[] = [];
  private readonly pipelines: ReadonlySet<string> | null;

  constructor(
    private readonly source: TriggerSource,
    options: TriggerLoadOptions,
  ) {
    this.pipelines = options.pipelines ? new Set(options.pipelines) : null;
  }

  private line(path: Path): number {
    if (!this.source.locate) return 0;
    const line = this.source.locate(path).line;
    // An empty node (`-` alone) has no position of its own: fall back to its parent's.
    return path.length > 0 ? Math.max(line, this.line(path.slice(0, -1))) : line;
  }

  private error(path: Path, trigger: string | undefined, message: string): null {
    this.errors.push({
      severity: 'error',
      file: this.source.filename,
      line: this.line(path),
      trigger,
      message,
    });
    return null;
  }

  private warn(path: Path, trigger: string | undefined, message: string): void {
    this.warnings.push({
      severity: 'warning',
      file: this.source.filename,
      line: this.line(path),
      trigger,
      message,
    });
  }

  compile(): TriggerDefinition[] {
    for (const { severity, file, line, message } of duplicateKeyWarnings(
      this.source.filename,
      this.source.duplicateKeys,
    )) {
      this.warnings.push({ severity, file, line, message });
    }
    const value = this.source.value;
    if (value === null || value === undefined) {
      this.error([], undefined, 'the file defines no triggers: expected a list of trigger definitions');
      return [];
    }
    if (!Array.isArray(value)) {
      this.error([], undefined, `expected a list of trigger definitions, found ${describe(value)}`);
      return [];
    }
    const triggers: TriggerDefinition[] = [];
    const seen = new Map<string, number>();
    value.forEach((raw, index) => {
      const name = this.nameOf(raw, index);
      const firstLine = seen.get(name);
      if (firstLine !== undefined) {
        this.error([index, 'name'], name, `a trigger of this name is already defined at line ${firstLine}`);
      } else {
        seen.set(name, this.line([index]));
      }
      const trigger = this.trigger(raw, index, name);
      if (trigger && firstLine === undefined) triggers.push(trigger);
    });
    return triggers;
  }

  /** The trigger's name, or `#n` (its 1-based position) when it has none to show. */
  private nameOf(raw: unknown, index: number): string {
    const fallback = `#${index + 1}`;
    if (!isMapping(raw)) return fallback;
    const name = entriesOf(raw).find(([k]) => k === 'name')?.[1];
    return typeof name === 'string' && name.trim() !== '' ? name : fallback;
  }

  private trigger(raw: unknown, index: number, name: string): TriggerDefinition | null {
    const at: Path = [index];
    if (!isMapping(raw)) {
      return this.error(at, name, `expected a trigger definition (a mapping), found ${describe(raw)}`);
    }
    const errorsBefore = this.errors.length;
    const fields = this.triggerFields(raw, index, name);
    this.checkName(fields.get('name'), index, name);
    const debugLevel = this.debugLevel(fields.get('debug_level'), [index, 'debug_level'], name);
    const distinguishedBy = this.distinguishedBy(
      fields.get('distinguished_by'),
      [index, 'distinguished_by'],
      name,
    );
    const context: TriggerContext = {
      trigger: name,
      distinguishing: new Set(distinguishedBy.map((d) => d.name)),
    };

    const expiration = this.expiration(fields, index, name);
    const fireDelay = this.fireDelay(fields.get('fire_delay'), [index, 'fire_delay'], name);
    const firePipeline = this.pipeline(fields.get('fire_pipeline'), [index, 'fire_pipeline'], name);
    const expirePipeline = this.pipeline(fields.get('expire_pipeline'), [index, 'expire_pipeline'], name);
    if (!firePipeline && !expirePipeline && !fields.get('fire_pipeline') && !fields.get('expire_pipeline')) {
      this.error(at, name, "needs a 'fire_pipeline', an 'expire_pipeline', or both");
    }

    const matchCriteria = this.criteriaList(fields, 'match', index, context);
    const fireCriteria = this.criteriaList(fields, 'fire', index, context);
    const loadCriteria = fields.has('load_criteria') ? this.criteriaList(fields, 'load', index, context) : [];

    if (this.errors.length > errorsBefore || !expiration) return null;
    return new TriggerDefinition({
      name,
      file: this.source.filename,
      line: this.line(at),
      debugLevel,
      distinguishedBy,
      expiration,
      fireDelaySeconds: fireDelay,
      firePipeline,
      expirePipeline,
      matchCriteria,
      fireCriteria,
      loadCriteria,
    });
  }

  /** A trigger's keys and values: every text key, unknown ones warned about (they are ignored later). */
  private triggerFields(
    raw: Map<unknown, unknown> | Record<string, unknown>,
    index: number,
    name: string,
  ): Map<string, unknown> {
    const fields = new Map<string, unknown>();
    for (const [key, value] of entriesOf(raw)) {
      if (typeof key !== 'string') {
        this.warn([index], name, `key ${describe(key)} is not one a trigger has; ignored`);
        continue;
      }
      fields.set(key, value);
      if (!(TRIGGER_KEYS as readonly string[]).includes(key)) {
        this.warn([index, key], name, `unknown key '${key}' ignored${suggestion(key, TRIGGER_KEYS)}`);
      }
    }
    return fields;
  }

  private checkName(rawName: unknown, index: number, name: string): void {
    if (rawName === undefined) this.error([index], name, "missing 'name'");
    else if (typeof rawName !== 'string' || rawName.trim() === '') {
      this.error([index, 'name'], name, `'name' must be non-empty text, found ${describe(rawName)}`);
    }
  }

  private expiration(fields: Map<string, unknown>, index: number, name: string): TimexExpression | null {
    if (!fields.has('expiration')) {
      this.error([index], name, 'missing \'expiration\' (a time expression such as "$last + 1h")');
      return null;
    }
    return this.timex(
      fields.get('expiration'),
      [index, 'expiration'],
      name,
      'expiration',
      EXPIRATION_VARIABLES,
    );
  }

  private debugLevel(value: unknown, path: Path, trigger: string): number {
    if (value === undefined || value === null) return 0;
    // upstream: int(config['debug_level'])
    const level =
      typeof value === 'number' && Number.isInteger(value)
        ? value
        : typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)
          ? Number(value)
          : NaN;
    if (![0, 1, 2].includes(level)) {
      this.error(
        path,
        trigger,
        `debug_level is 0 (off), 1 (counts) or 2 (counts and reasons), found ${describe(value)}`,
      );
      return 0;
    }
    return level;
  }

  private fireDelay(value: unknown, path: Path, trigger: string): number {
    if (value === undefined || value === null) return 0;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      this.error(path, trigger, `fire_delay is a number of seconds ≥ 0, found ${describe(value)}`);
      return 0;
    }
    return value;
  }

  private pipeline(value: unknown, path: Path, trigger: string): string | null {
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string' || value === '') {
      this.error(path, trigger, `${path[path.length - 1]} must name a pipeline, found ${describe(value)}`);
      return null;
    }
    if (this.pipelines && !this.pipelines.has(value)) {
      const known = [...this.pipelines].sort();
      this.error(
        path,
        trigger,
        `${path[path.length - 1]} '${value}' is not defined in the pipelines file` +
          (known.length
            ? `${suggestion(value, known)} (defined: ${known.join(', ')})`
            : ' (it defines none)'),
      );
      return null;
    }
    return value;
  }

  private timex(
    value: unknown,
    path: Path,
    trigger: string,
    what: string,
    allowed?: ReadonlySet<string>,
  ): TimexExpression | null {
    if (typeof value !== 'string') {
      return this.error(path, trigger, `${what} must be a time expression (text), found ${describe(value)}`);
    }
    let expression: TimexExpression;
    try {
      expression = parseTimex(value);
    } catch (error) {
      if (error instanceof TimexParseError) return this.error(path, trigger, `${what}: ${error.message}`);
      throw error;
    }
    if (allowed) {
      const others = [...expression.variables].filter((v) => !allowed.has(v));
      if (others.length) {
        const names = [...allowed].map((v) => `$${v}`).join(', ');
        return this.error(
          path,
          trigger,
          `${what} "${value}" uses ${others.map((v) => `$${v}`).join(', ')}, but only ${names} are defined there`,
        );
      }
    }
    const never = neverComputable(expression);
    if (never) return this.error(path, trigger, `${what} "${value}" can never be computed: ${never}`);
    return expression;
  }

  private distinguishedBy(value: unknown, path: Path, trigger: string): DistinguishingTrait[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.error(path, trigger, `distinguished_by must be a list of trait names, found ${describe(value)}`);
      return [];
    }
    const out: DistinguishingTrait[] = [];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const at = [...path, i];
      let entry: DistinguishingTrait;
      if (typeof item === 'string' && item !== '') {
        entry = { name: item, expression: null };
      } else if (isMapping(item)) {
        const pairs = entriesOf(item);
        if (pairs.length !== 1) {
          this.error(
            at,
            trigger,
            `a distinguishing expression maps one trait to a time expression (e.g. timestamp: day), found ${pairs.length} keys`,
          );
          return;
        }
        const [key, expr] = pairs[0];
        if (typeof key !== 'string' || key === '') {
          this.error(at, trigger, `a distinguishing trait name must be text, found ${describe(key)}`);
          return;
        }
        const expression = this.timex(
          expr,
          [...at, key],
          trigger,
          `distinguishing expression for ${key}`,
          GROUPING_VARIABLES,
        );
        if (!expression) return;
        entry = { name: key, expression };
      } else {
        this.error(
          at,
          trigger,
          `a distinguishing trait is a name or {trait: time expression}, found ${describe(item)}`,
        );
        return;
      }
      if (seen.has(entry.name)) {
        this.error(at, trigger, `distinguishing trait '${entry.name}' is listed twice`);
        return;
      }
      seen.add(entry.name);
      out.push(entry);
    });
    return out;
  }

  private criteriaList(
    fields: Map<string, unknown>,
    role: CriteriaRole,
    index: number,
    context: TriggerContext,
  ): Criteria[] {
    const key = `${role}_criteria`;
    const path: Path = [index, key];
    const value = fields.get(key);
    if (value === undefined) {
      if (role !== 'load') this.error([index], context.trigger, `missing '${key}' (a list of criteria)`);
      return [];
    }
    if (!Array.isArray(value)) {
      this.error(path, context.trigger, `${key} must be a list of criteria, found ${describe(value)}`);
      return [];
    }
    if (value.length === 0 && role !== 'load') {
      this.error(
        path,
        context.trigger,
        `${key} is empty: ${role === 'match' ? 'the trigger would match nothing' : 'give at least one, e.g. - event_type: compute.instance.exists'}`,
      );
      return [];
    }
    const out: Criteria[] = [];
    value.forEach((raw, i) => {
      const criteria = this.criteria(raw, [...path, i], role, i, context);
      if (criteria) out.push(criteria);
    });
    return out;
  }

  private criteria(
    raw: unknown,
    path: Path,
    role: CriteriaRole,
    index: number,
    context: TriggerContext,
  ): Criteria | null {
    const trigger = context.trigger;
    const label = `${role}_criteria[${index}]`;
    if (!isMapping(raw)) {
      return this.error(
        path,
        trigger,
        `${label} must be a mapping (event_type, traits, …), found ${describe(raw)}`,
      );
    }
    const errorsBefore = this.errors.length;
    const fields = this.criteriaFields(raw, path, trigger, label);
    const eventTypes = this.eventTypes(fields, path, trigger, label);
    const timestamp = this.criteriaTimestamp(fields, path, trigger, label);
    const traits = this.traitCriteria(fields, path, trigger, label);
    const number = this.eventCount(fields, path, role, trigger, label);
    const mapping = this.mapDistinguishedBy(fields, path, role, label, context);

    if (this.errors.length > errorsBefore) return null;
    return new Criteria({
      role,
      index,
      line: this.line(path),
      eventTypes,
      timestamp,
      traits,
      number,
      mapDistinguishedBy: mapping,
    });
  }

  /** A criterion's keys and values; unknown keys are warned about and left out. */
  private criteriaFields(
    raw: Map<unknown, unknown> | Record<string, unknown>,
    path: Path,
    trigger: string,
    label: string,
  ): Map<string, unknown> {
    const fields = new Map<string, unknown>();
    for (const [key, value] of entriesOf(raw)) {
      if (typeof key !== 'string' || !(CRITERIA_KEYS as readonly string[]).includes(key)) {
        const shown = typeof key === 'string' ? `'${key}'` : describe(key);
        this.warn(
          [...path, String(key)],
          trigger,
          `${label}: unknown key ${shown} ignored${typeof key === 'string' ? suggestion(key, CRITERIA_KEYS) : ''}`,
        );
        continue;
      }
      fields.set(key, value);
    }
    return fields;
  }

  /** `event_type`: one glob or a list of them; null when absent (any event type). */
  private eventTypes(
    fields: Map<string, unknown>,
    path: Path,
    trigger: string,
    label: string,
  ): string[] | null {
    if (!fields.has('event_type')) return null;
    const value = fields.get('event_type');
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || list.some((t) => typeof t !== 'string')) {
      this.error(
        [...path, 'event_type'],
        trigger,
        `${label}: event_type is a glob or a list of globs, found ${describe(value)}`,
      );
      return null;
    }
    if (list.length === 0) {
      this.error([...path, 'event_type'], trigger, `${label}: an empty event_type list matches no event`);
      return null;
    }
    return list as string[];
  }

  private criteriaTimestamp(
    fields: Map<string, unknown>,
    path: Path,
    trigger: string,
    label: string,
  ): TimexExpression | null {
    if (!fields.has('timestamp')) return null;
    const timestamp = this.timex(
      fields.get('timestamp'),
      [...path, 'timestamp'],
      trigger,
      `${label} timestamp`,
    );
    if (timestamp && !timestamp.isRange) {
      this.warn(
        [...path, 'timestamp'],
        trigger,
        `${label}: timestamp "${timestamp.source}" is a single instant, so only events at exactly that time match; a range (e.g. day($launched_at)) was probably meant`,
      );
    }
    return timestamp;
  }

  /** `traits`: trait name → criterion; the ones that compile. */
  private traitCriteria(
    fields: Map<string, unknown>,
    path: Path,
    trigger: string,
    label: string,
  ): TraitCriterion[] {
    if (!fields.has('traits')) return [];
    const value = fields.get('traits');
    if (value === null) return [];
    if (!isMapping(value)) {
      this.error(
        [...path, 'traits'],
        trigger,
        `${label}: traits is a mapping of trait name to criterion, found ${describe(value)}`,
      );
      return [];
    }
    const traits: TraitCriterion[] = [];
    for (const [name, criterion] of entriesOf(value)) {
      const compiled = this.traitCriterion(
        name,
        criterion,
        [...path, 'traits', String(name)],
        trigger,
        label,
      );
      if (compiled) traits.push(compiled);
    }
    return traits;
  }

  /** `number`: how many matching events fire_criteria need (1 by default). */
  private eventCount(
    fields: Map<string, unknown>,
    path: Path,
    role: CriteriaRole,
    trigger: string,
    label: string,
  ): number {
    if (!fields.has('number')) return 1;
    const value = fields.get('number');
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      this.error(
        [...path, 'number'],
        trigger,
        `${label}: number is a count of events (an integer ≥ 0), found ${describe(value)}`,
      );
      return 1;
    }
    if (role !== 'fire')
      this.warn([...path, 'number'], trigger, `${label}: number only counts in fire_criteria; ignored here`);
    return value;
  }

  private mapDistinguishedBy(
    fields: Map<string, unknown>,
    path: Path,
    role: CriteriaRole,
    label: string,
    context: TriggerContext,
  ): Map<string, string> {
    const trigger = context.trigger;
    const correct = fields.has('map_distinguished_by');
    const misspelled = fields.has('map_distingushed_by');
    if (correct && misspelled) {
      this.error(
        [...path, 'map_distingushed_by'],
        trigger,
        `${label}: both map_distinguished_by and its misspelling map_distingushed_by are given; keep one`,
      );
      return new Map();
    }
    if (!correct && !misspelled) return new Map();
    const key = correct ? 'map_distinguished_by' : 'map_distingushed_by';
    const at = [...path, key];
    if (misspelled) {
      this.warn(
        at,
        trigger,
        `${label}: map_distingushed_by is a misspelling of map_distinguished_by; honoured (upstream ignored it, so streams differ from upstream's)`,
      );
    }
    const value = fields.get(key);
    const mapping = new Map<string, string>();
    if (value === null) return mapping;
    if (!isMapping(value)) {
      this.error(
        at,
        trigger,
        `${label}: ${key} maps distinguishing trait names to event trait names, found ${describe(value)}`,
      );
      return mapping;
    }
    for (const [name, source] of entriesOf(value)) {
      if (typeof name !== 'string' || typeof source !== 'string' || source === '') {
        this.error(
          [...at, String(name)],
          trigger,
          `${label}: ${key} entries are 'trait: other_trait' (both names, as text), found ${describe(name)}: ${describe(source)}`,
        );
        continue;
      }
      if (!context.distinguishing.has(name)) {
        this.warn(
          [...at, name],
          trigger,
          `${label}: ${key} maps '${name}', which is not in distinguished_by; it has no effect`,
        );
      }
      mapping.set(name, source);
    }
    if (role !== 'match' && mapping.size > 0) {
      this.warn(at, trigger, `${label}: ${key} only applies to match_criteria; ignored here`);
    }
    return mapping;
  }

  private traitCriterion(
    name: unknown,
    value: unknown,
    path: Path,
    trigger: string,
    label: string,
  ): TraitCriterion | null {
    if (typeof name !== 'string' || name === '') {
      return this.error(
        path,
        trigger,
        `${label}: a trait name must be text, found ${describe(name)}; quote it (YAML 1.1 reads on/off/yes/no and numbers as other types)`,
      );
    }
    const where = `${label} trait '${name}'`;
    if (!isMapping(value)) return this.constant(name, value, path, trigger, where);
    const pairs = entriesOf(value);
    if (pairs.length !== 1) {
      return this.error(
        path,
        trigger,
        `${where}: a criterion has exactly one type (int, float, datetime, string or text), found ${pairs.length}: ${pairs.map(([k]) => String(k)).join(', ') || 'none'}`,
      );
    }
    const [type, expression] = pairs[0];
    const at = [...path, String(type)];
    switch (type) {
      case 'int':
      case 'float':
        return this.numeric(name, type, expression, at, trigger, where);
      case 'datetime': {
        const parsed = this.timex(expression, at, trigger, `${where} datetime`);
        return parsed ? new TimeCriterion(name, parsed) : null;
      }
      case 'string':
      case 'text':
        if (typeof expression !== 'string') {
          this.warn(
            at,
            trigger,
            `${where}: {${type}: ...} holds ${describe(expression)}, not text; it is compared as that value (as upstream did), so a text trait never equals it`,
          );
        }
        return this.constant(name, expression, at, trigger, where);
      default: {
        const shown = typeof type === 'string' ? `'${type}'` : describe(type);
        const hint =
          type === 'numeric' || type === 'number'
            ? ' (use int or float)'
            : typeof type === 'string'
              ? suggestion(type, TRAIT_CRITERION_TYPES)
              : '';
        return this.error(
          at,
          trigger,
          `${where}: unknown criterion type ${shown}${hint}; the types are ${TRAIT_CRITERION_TYPES.join(', ')}`,
        );
      }
    }
  }

  private constant(
    name: string,
    value: unknown,
    path: Path,
    trigger: string,
    where: string,
  ): TraitCriterion | null {
    let expected: ConstantValue;
    if (typeof value === 'string') expected = { kind: 'text', value };
    else if (typeof value === 'number') expected = { kind: 'number', value };
    else if (typeof value === 'boolean') expected = { kind: 'number', value: value ? 1 : 0 };
    else if (value instanceof YamlTimestamp && !value.dateOnly)
      expected = { kind: 'datetime', value: value.micros };
    else if (value instanceof YamlTimestamp) {
      expected = { kind: 'never', shown: value.text };
      this.warn(
        path,
        trigger,
        `${where}: the date ${value.text} never equals a datetime trait (Python compares date and datetime as unequal); give a time, or use {datetime: ...}`,
      );
    } else if (value === null || value === undefined) {
      return this.error(
        path,
        trigger,
        `${where}: an empty (null) criterion never matches; give a value or remove the trait`,
      );
    } else {
      return this.error(
        path,
        trigger,
        `${where}: a constant criterion is text, a number or a timestamp, found ${describe(value)}`,
      );
    }
    if (expected.kind === 'number' && Number.isNaN(expected.value)) {
      this.warn(path, trigger, `${where}: NaN equals nothing; this criterion never matches`);
    }
    return new ConstantCriterion(name, expected);
  }

  private numeric(
    name: string,
    type: 'int' | 'float',
    value: unknown,
    path: Path,
    trigger: string,
    where: string,
  ): TraitCriterion | null {
    if (typeof value === 'number') return new NumericCriterion(name, type, '=', value);
    if (typeof value === 'boolean') return new NumericCriterion(name, type, '=', value ? 1 : 0);
    if (typeof value !== 'string') {
      return this.error(
        path,
        trigger,
        `${where}: {${type}: ...} holds an operator and a number such as "> 4096", found ${describe(value)}`,
      );
    }
    // upstream: expr.strip().split(None, 1)
    const text = value.trim();
    if (text === '') return this.error(path, trigger, `${where}: invalid numeric criterion: it is empty`);
    const space = text.search(/\s/);
    const [op, operand] = space < 0 ? ['=', text] : [text.slice(0, space), text.slice(space).trim()];
    if (!(COMPARISON_OPERATORS as readonly string[]).includes(op)) {
      const hint =
        op === '=='
          ? " (equality is '=')"
          : op === '=>'
            ? " (did you mean '>='?)"
            : op === '=<'
              ? " (did you mean '<='?)"
              : '';
      return this.error(
        path,
        trigger,
        `${where}: invalid numeric criterion "${value}": unknown operator '${op}'${hint}; the operators are ${COMPARISON_OPERATORS.join(' ')}`,
      );
    }
    const number = pythonNumber(operand, type);
    if (number === undefined) {
      const glued = space < 0 ? /^(>=|<=|!=|==|=|>|<)(.+)$/.exec(text) : null;
      let hint = '';
      if (glued && pythonNumber(glued[2].trim(), type) !== undefined) {
        hint = `; put a space after the operator: "${glued[1]} ${glued[2].trim()}"`;
      } else if (type === 'int' && pythonNumber(operand, 'float') !== undefined) {
        hint = '; use {float: ...} for a number with decimals';
      }
      return this.error(
        path,
        trigger,
        `${where}: invalid numeric criterion "${value}": '${operand}' is not ${type === 'int' ? 'an int' : 'a float'}${hint}`,
      );
    }
    if (type === 'int' && !Number.isSafeInteger(number)) {
      return this.error(path, trigger, `${where}: ${operand} is too large to compare exactly`);
    }
    return new NumericCriterion(name, type, op as ComparisonOperator, number);
  }
}

/** Compiles triggers from a parsed file; collects every problem instead of stopping at the first. */
export function compileTriggerDefinitions(
  source: TriggerSource,
  options: TriggerLoadOptions = {},
): TriggerLoadResult {
  const compiler = new TriggerCompiler(source, options);
  const triggers = compiler.compile();
  return { triggers, errors: compiler.errors, warnings: compiler.warnings };
}

/** Reads triggers.yaml text as upstream's PyYAML did (YAML 1.1); YAML syntax errors become problems too. */
export function readTriggerDefinitions(
  text: string,
  file: string,
  options: TriggerLoadOptions = {},
): TriggerLoadResult {
  try {
    return compileTriggerDefinitions(loadYaml11(text, file), options);
  } catch (error) {
    if (error instanceof YamlSyntaxError) {
      return {
        triggers: [],
        errors: [{ severity: 'error', file, line: error.line, message: `not valid YAML: ${error.reason}` }],
        warnings: [],
      };
    }
    throw error;
  }
}

/** Loads triggers.yaml text; throws TriggerConfigError listing every error. */
export function parseTriggerDefinitions(
  text: string,
  file: string,
  options: TriggerLoadOptions = {},
): { triggers: TriggerDefinition[]; warnings: ConfigProblem[] } {
  const result = readTriggerDefinitions(text, file, options);
  if (result.errors.length) throw new TriggerConfigError(result.errors, result.warnings);
  return { triggers: result.triggers, warnings: result.warnings };
}

/** Loads a triggers.yaml file; throws TriggerConfigError (a ConfigurationError) listing every error. */
export function loadTriggerDefinitions(
  path: string,
  options: TriggerLoadOptions = {},
): { triggers: TriggerDefinition[]; warnings: ConfigProblem[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TriggerConfigError([
      {
        severity: 'error',
        file: path,
        line: 0,
        message: `cannot read the trigger definitions: ${(error as Error).message}`,
      },
    ]);
  }
  return parseTriggerDefinitions(text, path, options);
}
