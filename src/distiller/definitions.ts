import { ConfigurationError } from '../config/errors';
import { duplicateKeyWarnings, plainFromYaml, SourcePosition, YamlDocument } from '../config/yaml11';
import { TraitType } from '../events/event';
import { Converter, CONVERTERS } from './convert';
import {
  compilePaths,
  CompiledPath,
  findUnsupported,
  JsonPathSyntaxError,
  parseJsonPath,
  PathMatch,
  PathNode,
} from './jsonpath';
import { instantiatePlugin, TraitPlugin, TraitPluginProvider } from './plugins';
import { CompiledTrait, compileTraitRunner, TraitRunner } from './runner';
import {
  fnmatchToRegExp,
  isDict,
  KEY_ORDER,
  numberReading,
  pyEquals,
  pyIndex,
  pyInt,
  PyNumber,
  pySplit,
  pyStr,
  ConversionFailure,
} from './python';

/** A bad event definitions file: where, and what to do about it. */
export class EventDefinitionError extends ConfigurationError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(line > 0 ? `${file}:${line}:${column}: ${reason}` : `${file}: ${reason}`);
    this.name = 'EventDefinitionError';
  }
}

/** Something upstream accepts silently but that is probably a mistake. */
export interface ConfigWarning {
  file: string;
  line: number;
  column: number;
  message: string;
}

export interface CompileOptions {
  /** Add a `*` definition (default traits only) unless one exists: `catch_all_notifications`. */
  catchAll?: boolean;
  /** User trait plugins by name, beside the built-in `split` and `bitfield`. */
  plugins?: Readonly<Record<string, TraitPluginProvider>>;
}

const TRAIT_TYPES: readonly TraitType[] = ['text', 'int', 'float', 'datetime'];
/** Traits named like the envelope: Winchester keeps the envelope's values, so these count but are not stored. */
const ENVELOPE_NAMES = new Set(['message_id', 'event_type', 'timestamp']);

/** One entry of event_definitions.yaml, compiled. */
export class EventDefinition {
  /** `*` included and nothing excluded (upstream's `is_catchall`). */
  readonly isCatchAll: boolean;
  /** All traits, extracted and converted into `traits`, in one generated function. */
  readonly runTraits: TraitRunner;
  private readonly included = new Globs();
  private readonly excluded = new Globs();

  constructor(
    /** `event_type` as written: globs, `!` for exclusions. */
    readonly eventTypes: readonly string[],
    readonly traits: readonly CompiledTrait[],
    /** Index in the file (0-based); -1 for the catch-all added by `catchAll`. */
    readonly index: number,
    readonly position: SourcePosition,
  ) {
    for (const t of eventTypes) {
      if (t.startsWith('!')) this.excluded.add(t.slice(1));
      else this.included.add(t);
    }
    if (this.included.isEmpty() && !this.excluded.isEmpty()) this.included.add('*');
    this.isCatchAll = this.included.matchesAll && this.excluded.isEmpty();
    this.runTraits = compileTraitRunner(traits);
  }

  /** fnmatch against the included patterns and none of the excluded ones. */
  matchesType(eventType: string): boolean {
    return this.included.matches(eventType) && !this.excluded.matches(eventType);
  }
}

/** A set of fnmatch patterns; plain names are looked up, not matched. */
class Globs {
  matchesAll = false;
  private readonly names = new Set<string>();
  private readonly patterns: RegExp[] = [];

  add(pattern: string): void {
    if (pattern === '*') this.matchesAll = true;
    else if (/[*?[]/.test(pattern)) this.patterns.push(fnmatchToRegExp(pattern));
    else this.names.add(pattern);
  }

  isEmpty(): boolean {
    return !this.matchesAll && this.names.size === 0 && this.patterns.length === 0;
  }

  matches(name: string): boolean {
    return this.matchesAll || this.names.has(name) || this.patterns.some((r) => r.test(name));
  }
}

type Path = (string | number)[];

interface Source {
  file: string;
  locate(path: Path): SourcePosition;
}

type Mapping = Map<unknown, unknown> | Record<string, unknown>;

const isMapping = (v: unknown): v is Mapping => {
  if (v instanceof Map) return true;
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};
const entriesOf = (m: Mapping): [unknown, unknown][] =>
  m instanceof Map ? [...m.entries()] : Object.entries(m);
const getKey = (m: Mapping, key: string): unknown =>
  m instanceof Map ? m.get(key) : Object.prototype.hasOwnProperty.call(m, key) ? m[key] : undefined;
const hasKey = (m: Mapping, key: string): boolean =>
  m instanceof Map ? m.has(key) : Object.prototype.hasOwnProperty.call(m, key);

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  if (isMapping(v)) return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Notification values as a JS plugin expects them: exact-parse numbers as plain numbers. */
function plainJson(v: unknown): unknown {
  if (!numberReading.exact) return v;
  if (v instanceof PyNumber) return PyNumber.value(v);
  if (Array.isArray(v)) return v.map(plainJson);
  if (isDict(v)) {
    const out: Record<string, unknown> = Object.create(null);
    const order = (v as { [KEY_ORDER]?: string[] })[KEY_ORDER] ?? Object.keys(v);
    for (const k of order) out[k] = plainJson(v[k]);
    return out;
  }
  return v;
}

/** A path as an error quotes it: a pathological one is cut (the position says where). */
const shownPath = (text: string) =>
  text.length > 200
    ? `${JSON.stringify(text.slice(0, 200))}… (${text.length} characters)`
    : JSON.stringify(text);

const SPLIT_PARAMS = new Set(['separator', 'segment', 'max_split']);
const BITFIELD_PARAMS = new Set(['initial_bitfield', 'flags']);

class Compiler {
  readonly warnings: ConfigWarning[] = [];
  private readonly plugins: Readonly<Record<string, TraitPluginProvider>>;

  constructor(
    private readonly source: Source,
    options: CompileOptions,
  ) {
    this.plugins = options.plugins ?? {};
  }

  fail(path: Path, reason: string): never {
    const { line, column } = this.source.locate(path);
    throw new EventDefinitionError(this.source.file, line, column, reason);
  }

  warn(path: Path, message: string): void {
    const { line, column } = this.source.locate(path);
    this.warnings.push({ file: this.source.file, line, column, message });
  }

  definition(raw: unknown, index: number): EventDefinition {
    const at: Path = [index];
    if (!isMapping(raw)) {
      this.fail(
        at,
        `event definition ${index + 1} must be a mapping with event_type and traits, found ${describe(raw)}`,
      );
    }
    for (const [key] of entriesOf(raw)) {
      if (key !== 'event_type' && key !== 'traits') {
        this.warn(
          [...at, String(key)],
          `unknown key ${JSON.stringify(String(key))} in event definition ${index + 1} (ignored)`,
        );
      }
    }
    if (!hasKey(raw, 'event_type')) {
      this.fail(at, `event definition ${index + 1}: required field event_type not specified`);
    }
    if (!hasKey(raw, 'traits')) {
      this.fail(at, `event definition ${index + 1}: required field traits not specified`);
    }
    const rawTypes = getKey(raw, 'event_type');
    const eventTypes = typeof rawTypes === 'string' ? [rawTypes] : rawTypes;
    if (!Array.isArray(eventTypes) || eventTypes.some((t) => typeof t !== 'string')) {
      this.fail(
        [...at, 'event_type'],
        `event_type must be a string or a list of strings, found ${describe(rawTypes)}`,
      );
    }
    if (eventTypes.length === 0) {
      this.warn([...at, 'event_type'], 'event_type is an empty list: this definition matches nothing');
    }
    const rawTraits = getKey(raw, 'traits');
    if (!isMapping(rawTraits)) {
      this.fail(
        [...at, 'traits'],
        `traits must be a mapping of trait name to trait definition, found ${describe(rawTraits)}`,
      );
    }
    const traits = new Map<string, CompiledTrait>(DEFAULT_TRAITS.map((t) => [t.name, t]));
    for (const [name, cfg] of entriesOf(rawTraits)) {
      if (typeof name !== 'string') {
        this.fail(
          [...at, 'traits'],
          `trait names must be strings, found ${describe(name)} (quote it in the YAML)`,
        );
      }
      traits.set(name, this.trait(name, cfg, [...at, 'traits', name]));
    }
    return new EventDefinition(eventTypes as string[], [...traits.values()], index, this.source.locate(at));
  }

  trait(name: string, cfg: unknown, at: Path): CompiledTrait {
    if (!isMapping(cfg)) {
      this.fail(
        at,
        `trait ${name}: expected a mapping with fields (and type, plugin), found ${describe(cfg)}`,
      );
    }
    for (const [key] of entriesOf(cfg)) {
      if (key !== 'type' && key !== 'fields' && key !== 'plugin') {
        this.warn(
          [...at, String(key)],
          `trait ${name}: unknown key ${JSON.stringify(String(key))} (ignored)`,
        );
      }
    }
    const type = hasKey(cfg, 'type') ? getKey(cfg, 'type') : 'text';
    if (typeof type !== 'string' || !TRAIT_TYPES.includes(type as TraitType)) {
      const shown = typeof type === 'string' ? JSON.stringify(type) : describe(type);
      this.fail(
        [...at, 'type'],
        `invalid trait type ${shown} for trait ${name}: use one of ${TRAIT_TYPES.join(', ')}`,
      );
    }
    if (!hasKey(cfg, 'fields')) this.fail(at, `trait ${name}: required field fields not specified`);
    const rawFields = getKey(cfg, 'fields');
    const fields = typeof rawFields === 'string' ? [rawFields] : rawFields;
    if (!Array.isArray(fields) || fields.length === 0 || fields.some((f) => typeof f !== 'string')) {
      this.fail(
        [...at, 'fields'],
        `trait ${name}: fields must be a path or a non-empty list of paths, found ${describe(rawFields)}`,
      );
    }
    const nodes = (fields as string[]).map((f, i) =>
      this.path(f, name, typeof rawFields === 'string' ? [...at, 'fields'] : [...at, 'fields', i]),
    );
    const paths = compilePaths(nodes);
    let extract: (body: unknown) => unknown = paths.first;
    let pluginName: string | undefined;
    let fromPlugin = false;
    if (hasKey(cfg, 'plugin')) {
      const built = this.plugin(getKey(cfg, 'plugin'), name, paths, [...at, 'plugin']);
      extract = built.extract;
      pluginName = built.name;
      fromPlugin = built.returnsJsValues;
    }
    const base = CONVERTERS[type as TraitType];
    // A plugin's result is a JS value, not notification JSON: an integral number is an int, no re-parse needed.
    const convert: Converter = fromPlugin
      ? (v) => {
          if (typeof v === 'string' || !numberReading.fast) return base(v);
          numberReading.fast = false;
          try {
            return base(v);
          } finally {
            numberReading.fast = true;
          }
        }
      : base;
    return {
      name,
      type: type as TraitType,
      envelopeName: ENVELOPE_NAMES.has(name),
      fields: fields as string[],
      plugin: pluginName,
      chains: pluginName ? undefined : paths.chains,
      extract,
      convert,
    };
  }

  path(text: string, trait: string, at: Path): PathNode {
    let node: PathNode;
    try {
      node = parseJsonPath(text);
    } catch (error) {
      if (!(error instanceof JsonPathSyntaxError)) throw error;
      this.fail(
        at,
        `parse error in JSONPath specification ${shownPath(text)} for trait ${trait}: ${error.message} (at character ${error.offset + 1})`,
      );
    }
    const unsupported = findUnsupported(node);
    if (unsupported) {
      this.fail(at, `JSONPath specification ${shownPath(text)} for trait ${trait}: ${unsupported}`);
    }
    return node;
  }

  plugin(
    cfg: unknown,
    trait: string,
    paths: CompiledPath,
    at: Path,
  ): { name: string; extract: (body: unknown) => unknown; returnsJsValues: boolean } {
    let name: unknown;
    let params: unknown = null;
    if (typeof cfg === 'string') {
      name = cfg;
    } else if (isMapping(cfg)) {
      if (!hasKey(cfg, 'name')) {
        this.fail(at, `plugin specified, but no plugin name supplied for trait ${trait}`);
      }
      name = getKey(cfg, 'name');
      params = getKey(cfg, 'parameters') ?? null;
      for (const [key] of entriesOf(cfg)) {
        if (key !== 'name' && key !== 'parameters') {
          this.warn(
            [...at, String(key)],
            `plugin of trait ${trait}: unknown key ${JSON.stringify(String(key))} (ignored)`,
          );
        }
      }
    } else {
      this.fail(
        at,
        `plugin of trait ${trait} must be a name or a mapping with name and parameters, found ${describe(cfg)}`,
      );
    }
    const paramsAt = [...at, 'parameters'];
    if (params === null) params = new Map();
    if (!isMapping(params)) {
      this.fail(
        paramsAt,
        `parameters of plugin ${String(name)} for trait ${trait} must be a mapping, found ${describe(params)}`,
      );
    }
    const parameters = params;
    if (name === 'split') {
      return { name, extract: this.split(parameters, trait, paths, paramsAt), returnsJsValues: false };
    }
    if (name === 'bitfield') {
      return { name, extract: this.bitfield(parameters, trait, paths, paramsAt), returnsJsValues: true };
    }
    const provider =
      typeof name === 'string' && Object.prototype.hasOwnProperty.call(this.plugins, name)
        ? this.plugins[name]
        : undefined;
    if (!provider) {
      const known = ['split', 'bitfield', ...Object.keys(this.plugins)].join(', ');
      this.fail(
        at,
        `no plugin named ${describe(name)} available for trait ${trait} (known: ${known}; load others with --plugin name=module)`,
      );
    }
    let plugin: TraitPlugin;
    try {
      plugin = instantiatePlugin(provider, plainFromYaml(parameters) as Record<string, unknown>);
    } catch (error) {
      this.fail(at, `plugin ${name} for trait ${trait} could not be created: ${(error as Error).message}`);
    }
    return {
      name: name as string,
      returnsJsValues: true,
      extract: (body) => {
        const matches = paths.matches(body);
        const input: PathMatch[] = numberReading.exact ? matches.map(([p, v]) => [p, plainJson(v)]) : matches;
        try {
          return plugin.traitValue(input);
        } catch (error) {
          throw new PluginFailure(name as string, error);
        }
      },
    };
  }

  private checkParams(params: Mapping, allowed: Set<string>, plugin: string, at: Path): void {
    for (const [key] of entriesOf(params)) {
      if (!allowed.has(String(key))) {
        this.warn(
          [...at, String(key)],
          `plugin ${plugin}: unknown parameter ${JSON.stringify(String(key))} (ignored)`,
        );
      }
    }
  }

  private intParam(
    params: Mapping,
    key: string,
    fallback: number | null,
    at: Path,
    what: string,
  ): number | null {
    if (!hasKey(params, key)) return fallback;
    const v = getKey(params, key);
    if (v === null && fallback === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      this.fail([...at, key], `${what} must be an integer, found ${describe(v)}`);
    }
    return v;
  }

  split(params: Mapping, trait: string, paths: CompiledPath, at: Path): (body: unknown) => unknown {
    this.checkParams(params, SPLIT_PARAMS, 'split', at);
    const separator = hasKey(params, 'separator') ? getKey(params, 'separator') : '.';
    if (separator !== null && (typeof separator !== 'string' || separator === '')) {
      this.fail(
        [...at, 'separator'],
        `split separator for trait ${trait} must be a non-empty string (or null for whitespace), found ${describe(separator)}`,
      );
    }
    const segment = this.intParam(params, 'segment', 0, at, `split segment for trait ${trait}`)!;
    const maxSplit = this.intParam(params, 'max_split', null, at, `split max_split for trait ${trait}`) ?? -1;
    const sep = separator as string | null;
    return (body) => {
      const first = paths.first(body);
      if (first === undefined) return undefined;
      // Python's str.split keeps the remainder in the last piece, unlike JS's split(sep, limit).
      return pyIndex(pySplit(pyStr(first), sep, maxSplit), segment);
    };
  }

  bitfield(params: Mapping, trait: string, paths: CompiledPath, at: Path): (body: unknown) => unknown {
    this.checkParams(params, BITFIELD_PARAMS, 'bitfield', at);
    const initial = this.intParam(params, 'initial_bitfield', 0, at, `initial_bitfield for trait ${trait}`)!;
    const rawFlags = hasKey(params, 'flags') ? getKey(params, 'flags') : [];
    const flagsAt = [...at, 'flags'];
    if (rawFlags !== null && !Array.isArray(rawFlags)) {
      this.fail(flagsAt, `bitfield flags for trait ${trait} must be a list, found ${describe(rawFlags)}`);
    }
    const flags = ((rawFlags as unknown[] | null) ?? []).map((flag, i) => {
      const flagAt = [...flagsAt, i];
      if (!isMapping(flag)) {
        this.fail(
          flagAt,
          `bitfield flag ${i + 1} for trait ${trait} must be a mapping with path and bit, found ${describe(flag)}`,
        );
      }
      const path = getKey(flag, 'path');
      if (typeof path !== 'string') {
        this.fail(
          flagAt,
          `bitfield flag ${i + 1} for trait ${trait}: path must be a string, found ${describe(path)}`,
        );
      }
      let bit: number;
      try {
        bit = pyInt(getKey(flag, 'bit'));
      } catch (error) {
        const reason = error instanceof ConversionFailure ? error.reason : String(error);
        this.fail(flagAt, `bitfield flag ${i + 1} for trait ${trait}: bit must be an integer (${reason})`);
      }
      if (bit < 0 || bit > 52) {
        this.fail(flagAt, `bitfield flag ${i + 1} for trait ${trait}: bit ${bit} is outside 0..52`);
      }
      return { path, bit: 2 ** bit, hasValue: hasKey(flag, 'value'), value: getKey(flag, 'value') };
    });
    const small = initial >= 0 && initial < 2 ** 31 && flags.every((f) => f.bit < 2 ** 31);
    return (body) => {
      const matched = new Map<string, unknown>(paths.matches(body));
      let bits = small ? initial : BigInt(initial);
      for (const flag of flags) {
        if (!matched.has(flag.path)) continue;
        if (flag.hasValue && !pyEquals(matched.get(flag.path), flag.value)) continue;
        bits = typeof bits === 'number' ? bits | flag.bit : bits | BigInt(flag.bit);
      }
      return Number(bits);
    };
  }
}

/** A user plugin threw while computing a trait. */
export class PluginFailure {
  constructor(
    readonly plugin: string,
    readonly error: unknown,
  ) {}
}

function defaultTrait(name: string, fields: string[]): CompiledTrait {
  const paths = compilePaths(fields.map(parseJsonPath));
  return {
    name,
    type: 'text',
    envelopeName: false,
    fields,
    chains: paths.chains,
    extract: paths.first,
    convert: CONVERTERS.text,
  };
}

/** Every definition gets these unless it defines a trait of the same name (upstream's DEFAULT_TRAITS). */
const DEFAULT_TRAITS: readonly CompiledTrait[] = [
  defaultTrait('service', ['publisher_id']),
  defaultTrait('request_id', ['_context_request_id']),
  defaultTrait('tenant_id', ['payload.tenant_id', '_context_tenant']),
];

export interface CompiledDefinitions {
  /** In priority order: the file's last definition first (upstream tries them in reverse), the catch-all last. */
  definitions: EventDefinition[];
  warnings: ConfigWarning[];
}

/**
 * Validates and compiles the definitions of an event_definitions file (a YAML document, or a
 * plain value with a file name for messages). Throws EventDefinitionError with the line.
 */
export function compileEventDefinitions(
  document: YamlDocument | { filename: string; value: unknown },
  options: CompileOptions = {},
): CompiledDefinitions {
  const locate = 'locate' in document ? document.locate : () => ({ line: 1, column: 1 });
  const compiler: Compiler = new Compiler({ file: document.filename, locate }, options);
  if ('duplicateKeys' in document) {
    for (const { file, line, column, message } of duplicateKeyWarnings(
      document.filename,
      document.duplicateKeys,
    )) {
      compiler.warnings.push({ file, line, column, message });
    }
  }
  const value = document.value;
  if (value === null || value === undefined) {
    compiler.fail([], 'the file is empty: expected a list of event definitions');
  }
  if (!Array.isArray(value)) {
    compiler.fail([], `expected a list of event definitions, found ${describe(value)}`);
  }
  const definitions = value.map((raw, index) => compiler.definition(raw, index)).reverse();
  if (options.catchAll && !definitions.some((d) => d.isCatchAll)) {
    definitions.push(new EventDefinition(['*'], DEFAULT_TRAITS, -1, { line: 0, column: 0 }));
  }
  return { definitions, warnings: compiler.warnings };
}
