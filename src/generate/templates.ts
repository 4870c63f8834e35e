import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Micros, MICROS_PER_DAY, MICROS_PER_SECOND } from '../time/micros';
import { hashWords, uuidFromWords } from './random';

/**
 * notigen templates: each file is a recorded OpenStack operation (a create, a resize …) whose
 * ids, names, addresses and times were replaced by placeholders such as `[[[[UUID_1]]]]` and
 * `[[[[DT_3]]]]`. The first element holds `time_map` (placeholder → [days, seconds,
 * microseconds] from the operation's start) and how many placeholders of each kind there are.
 *
 * A template is compiled once into a render program: per notification, the JSON text as
 * literal pieces and slots. Besides the placeholders, a few payload fields become slots so
 * that one instance looks the same in every operation it goes through: its flavor, image,
 * state and launch/creation/deletion times at the start of an operation ("old" values) are the
 * instance's own, and an operation that changes them (resize, rebuild) gets a second ("new")
 * flavor or image for the notifications that carry the changed value.
 */

export const SLOT = {
  /** Inside a JSON string. */
  DT: 0,
  INSTANCE: 1,
  UUID: 2,
  XUUID: 3,
  V4: 4,
  V6: 5,
  NAMED: 6,
  PUBLISHER: 7,
  IMAGE_ID: 8,
  /** A whole JSON value. */
  MESSAGE_ID: 20,
  DATE_OLD: 21,
  STATE_OLD: 22,
  PERIOD_BEGIN: 23,
  EOD_BEGIN: 24,
  EOD_END: 25,
  FLAVOR: 26,
  IMAGE_META: 27,
} as const;

export interface Slot {
  kind: number;
  index: number;
  /** 0: the instance's value at the start of the operation; 1: the operation's new one. */
  which: 0 | 1;
  /** A placeholder name this generator does not know (index -1). */
  name?: string;
}

/** Placeholders named by what they hold; the first seven are the instance's own attributes. */
export const NAMED = [
  'tenant_id',
  'user_id',
  'display_name',
  'hostname',
  'reservation_id',
  'host',
  'node',
  'image_name',
  'device_name',
] as const;
export const NAMED_INSTANCE_ATTRIBUTES = 7;

/** Dates the instance carries from one operation to the next (order used by `DATE_OLD`). */
export const DATE_FIELDS = ['launched_at', 'created_at', 'deleted_at', 'terminated_at'] as const;
/** Flavor fields of a payload; the last two are set by resize.prep.end to the flavor resized to. */
export const FLAVOR_FIELDS = [
  'instance_type_id',
  'instance_type',
  'instance_flavor_id',
  'memory_mb',
  'vcpus',
  'root_gb',
  'disk_gb',
  'ephemeral_gb',
] as const;
const NEW_FLAVOR_FIELDS: Record<string, number> = { new_instance_type_id: 0, new_instance_type: 1 };

/** Date sources of an observation: a DT placeholder index, or one of these. */
export const DATE_EMPTY = -1;
export const DATE_OLD = -2;

/** What a notification tells about its instance once it is sent (undefined: not mentioned). */
export interface Observation {
  state?: string | null; // null: the instance's state at the start of the operation
  dates: (number | undefined)[];
  flavor?: 0 | 1;
  image?: 0 | 1;
}

export interface CompiledNotification {
  eventType: string;
  /** Microseconds after the operation's first notification. */
  offset: Micros;
  parts: (string | Slot)[];
  /** Whether the payload names the instance (`payload.instance_id`). */
  aboutInstance: boolean;
  observe: Observation;
}

export interface OperationTemplate {
  /** File name without `.json`. */
  name: string;
  /** The operation: the file name without its `_<variant>` suffix. */
  operation: string;
  isCreate: boolean;
  /** The instance state the recording starts from, and the one it leaves (null: none given). */
  preState: string | null;
  postState: string | null;
  changesFlavor: boolean;
  changesImage: boolean;
  /** Microseconds of each `DT_k` relative to the first notification. */
  dtOffsets: Micros[];
  notifications: CompiledNotification[];
  /** From the first notification to the last. */
  span: Micros;
}

export interface FlavorEntry {
  id: number;
  /** JSON text per FLAVOR_FIELDS entry. */
  raw: string[];
}

export interface ImageEntry {
  id: string;
  signature: string;
  /** The `image_meta` object as JSON text. */
  metaJson: string;
}

export interface TemplateSet {
  dir: string;
  operations: OperationTemplate[];
  eodExists: OperationTemplate;
  flavors: FlavorEntry[];
  images: ImageEntry[];
  /** The longest operation: how far back generation starts so operations already under way show up. */
  maxSpan: Micros;
}

export class TemplateError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'TemplateError';
  }
}

/** The templates shipped with the project (data/notigen-templates), found from here upwards. */
export function defaultTemplateDir(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = join(dir, 'data', 'notigen-templates');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('data/notigen-templates not found above ' + __dirname);
    dir = parent;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading: JSON.parse drops the difference between 80 and 80.0, which Python (and so the
// recorded notifications) keeps. Number tokens with a fraction or exponent are kept as text.

const NUMBER_MARK = '\u0001';

class NumberText {
  constructor(readonly text: string) {}
}

function protectNumbers(text: string): string {
  let out = '';
  let i = 0;
  let from = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j])) j++;
      const token = text.slice(i, j);
      if (/[.eE]/.test(token)) {
        out += `${text.slice(from, i)}"\\u0001${token}"`;
        from = j;
      }
      i = j;
    } else {
      i++;
    }
  }
  return out + text.slice(from);
}

function restoreNumbers(value: unknown): unknown {
  if (typeof value === 'string')
    return value.startsWith(NUMBER_MARK) ? new NumberText(value.slice(1)) : value;
  if (Array.isArray(value)) return value.map(restoreNumbers);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = restoreNumbers(v);
    return out;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Writing: the layout of Python's json.dumps(sort_keys=True), as in the sample corpus.

/** A JSON string as Python writes it (ensure_ascii), without the quotes. */
function pyStringBody(s: string): string {
  return JSON.stringify(s)
    .slice(1, -1)
    .replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function pyJson(value: unknown): string {
  const parts: (string | Slot)[] = [];
  serialize(value, parts, () => {
    throw new Error('unexpected placeholder');
  });
  return parts.join('');
}

const PLACEHOLDER = /\[\[\[\[(@?[A-Za-z0-9_]+)\]\]\]\]/g;

type PlaceholderSlot = (name: string) => Slot;

function isSlot(value: unknown): value is Slot {
  return typeof value === 'object' && value !== null && 'kind' in value && 'which' in value;
}

function serialize(value: unknown, out: (string | Slot)[], slotFor: PlaceholderSlot): void {
  if (value === null) out.push('null');
  else if (value === true) out.push('true');
  else if (value === false) out.push('false');
  else if (typeof value === 'number') out.push(JSON.stringify(value));
  else if (value instanceof NumberText) out.push(value.text);
  else if (isSlot(value)) out.push(value);
  else if (typeof value === 'string') {
    out.push('"');
    let last = 0;
    for (const m of value.matchAll(PLACEHOLDER)) {
      out.push(pyStringBody(value.slice(last, m.index)));
      out.push(slotFor(m[1]));
      last = m.index + m[0].length;
    }
    out.push(pyStringBody(value.slice(last)), '"');
  } else if (Array.isArray(value)) {
    out.push('[');
    value.forEach((v, i) => {
      if (i) out.push(', ');
      serialize(v, out, slotFor);
    });
    out.push(']');
  } else if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    out.push('{');
    Object.keys(record)
      .sort()
      .forEach((k, i) => {
        out.push(`${i ? ', ' : ''}"${pyStringBody(k)}": `);
        serialize(record[k], out, slotFor);
      });
    out.push('}');
  } else {
    throw new Error(`cannot write ${typeof value} as JSON`);
  }
}

/** Adjacent literal pieces joined, so rendering concatenates few strings. */
function merged(parts: (string | Slot)[]): (string | Slot)[] {
  const out: (string | Slot)[] = [];
  for (const p of parts) {
    if (typeof p === 'string' && typeof out[out.length - 1] === 'string') out[out.length - 1] += p;
    else if (p !== '') out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Catalogs: the flavors and images the recordings show, for the simulated instances to use.

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const payloadOf = (n: Json): Json | undefined => (isRecord(n.payload) ? n.payload : undefined);

function imageSignature(meta: Json): string {
  const text = (k: string) => (typeof meta[k] === 'string' ? meta[k] : '');
  return [
    text('org.openstack__1__os_distro'),
    text('org.openstack__1__os_version'),
    text('org.openstack__1__architecture'),
    text('image_type'),
  ].join('|');
}

function fixedWords(text: string, salt: number): [number, number, number, number] {
  let h = salt;
  for (let i = 0; i < text.length; i++) h = hashWords(h, text.charCodeAt(i), i, salt);
  return [
    hashWords(h, 1, salt, 0),
    hashWords(h, 2, salt, 0),
    hashWords(h, 3, salt, 0),
    hashWords(h, 4, salt, 0),
  ];
}

/** Placeholders inside a catalog image's metadata get values fixed by the image (not the seed). */
function fillPlaceholders(value: unknown, signature: string): unknown {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (_, name: string) => {
      const words = fixedWords(`${signature}/${name}`, 7);
      if (/^XUUID_/.test(name)) return uuidFromWords(...words).replace(/-/g, '');
      if (/^UUID_/.test(name)) return uuidFromWords(...words);
      return String(100000 + (words[0] % 899999));
    });
  }
  if (Array.isArray(value)) return value.map((v) => fillPlaceholders(v, signature));
  if (isRecord(value)) {
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) out[k] = fillPlaceholders(v, signature);
    return out;
  }
  return value;
}

function buildCatalogs(files: { name: string; notifications: Json[] }[]) {
  const flavors = new Map<number, Map<string, unknown>>();
  const images = new Map<string, ImageEntry>();
  for (const { notifications } of files) {
    for (const n of notifications) {
      const payload = payloadOf(n);
      if (!payload) continue;
      if (typeof payload.instance_type_id === 'number') {
        const entry = flavors.get(payload.instance_type_id) ?? new Map<string, unknown>();
        for (const field of FLAVOR_FIELDS) {
          if (!entry.has(field) && payload[field] !== undefined && payload[field] !== null) {
            entry.set(field, payload[field]);
          }
        }
        flavors.set(payload.instance_type_id, entry);
      }
      if (isRecord(payload.image_meta)) {
        const signature = imageSignature(payload.image_meta);
        if (!images.has(signature) && signature !== '|||') {
          images.set(signature, {
            id: uuidFromWords(...fixedWords(signature, 3)),
            signature,
            metaJson: pyJson(fillPlaceholders(payload.image_meta, signature)),
          });
        }
      }
    }
  }
  const flavorEntries: FlavorEntry[] = [...flavors.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([id, fields]) => ({
      id,
      raw: FLAVOR_FIELDS.map((field) => {
        if (fields.has(field)) return pyJson(fields.get(field));
        if (field === 'instance_flavor_id') return pyJson(String(id));
        if (field === 'instance_type') return pyJson(`flavor-${id}`);
        return '0';
      }),
    }));
  const imageEntries = [...images.values()].sort((a, b) => (a.signature < b.signature ? -1 : 1));
  return { flavors: flavorEntries, images: imageEntries };
}

// ---------------------------------------------------------------------------------------------
// Compiling one template.

const PLACEHOLDER_NAME = /^(DT|UUID|XUUID|V4|V6)_(\d+)$/;
const EXACT_DT = /^\[\[\[\[DT_(\d+)\]\]\]\]$/;

function offsetMicros(value: unknown, file: string, key: string): Micros {
  if (
    !Array.isArray(value) ||
    value.length !== 3 ||
    !value.every((v) => typeof v === 'number' && Number.isInteger(v))
  ) {
    throw new TemplateError(file, `time_map ${key} is not [days, seconds, microseconds]`);
  }
  return value[0] * MICROS_PER_DAY + value[1] * MICROS_PER_SECOND + value[2];
}

/** `time_map`: the recording's time of each `DT_k` placeholder. */
function readTimeMap(file: string, header: Json): Micros[] {
  if (!isRecord(header.time_map)) throw new TemplateError(file, 'the first element has no time_map');
  const rawOffsets: Micros[] = [];
  for (const [key, value] of Object.entries(header.time_map)) {
    const m = EXACT_DT.exec(key);
    if (!m) throw new TemplateError(file, `time_map key ${key} is not a [[[[DT_n]]]] placeholder`);
    rawOffsets[Number(m[1])] = offsetMicros(value, file, key);
  }
  return rawOffsets;
}

/** The operation a template records: its file name without the `_<variant>` suffix. */
function operationOf(name: string): string {
  // Upstream cut the name at the first `_`, which splits `power_off`; the variant is the number.
  return name === 'eod_exists' ? 'eod_exists' : name.replace(/_\d+$/, '');
}

/** What the recording starts from: the first value of each tracked field. */
interface RecordingStart {
  preState: string | null;
  postState: string | null;
  /** Per DATE_FIELDS entry. */
  dates: unknown[];
  flavor: unknown;
  /** The image's signature. */
  image: string | undefined;
  /** Placeholders that stand for the instance or its owner. */
  aliases: Map<string, Slot>;
}

function readRecordingStart(file: string, notifications: Json[]): RecordingStart {
  const payloads = notifications.map(payloadOf);
  const firstOf = (field: string) => payloads.find((p) => p && p[field] !== undefined)?.[field];
  const states = payloads.map((p) => p?.state).filter((s): s is string => typeof s === 'string');
  const firstMeta = firstOf('image_meta');
  return {
    preState: states[0] ?? null,
    postState: states[states.length - 1] ?? null,
    dates: DATE_FIELDS.map(firstOf),
    flavor: firstOf('instance_type_id'),
    image: isRecord(firstMeta) ? imageSignature(firstMeta) : undefined,
    aliases: instanceAliases(file, firstOf),
  };
}

function instanceAliases(file: string, firstOf: (field: string) => unknown): Map<string, Slot> {
  const placeholderOf = (field: string) => {
    const value = firstOf(field);
    return typeof value === 'string' ? /^\[\[\[\[([A-Za-z0-9_]+)\]\]\]\]$/.exec(value)?.[1] : undefined;
  };
  const instancePlaceholder = placeholderOf('instance_id');
  if (!instancePlaceholder || !/^UUID_\d+$/.test(instancePlaceholder)) {
    // Without it every notification would be about a new, unknown instance.
    throw new TemplateError(file, 'payload.instance_id is not a [[[[UUID_n]]]] placeholder');
  }
  // Some recordings anonymized the owner's id as an XUUID: it is still the instance's owner.
  const aliases = new Map<string, Slot>();
  ['tenant_id', 'user_id'].forEach((field, index) => {
    const placeholder = placeholderOf(field);
    if (placeholder && placeholder !== field) aliases.set(placeholder, { kind: SLOT.NAMED, index, which: 0 });
  });
  aliases.set(instancePlaceholder, { kind: SLOT.INSTANCE, index: 0, which: 0 });
  return aliases;
}

type UntimedNotification = Omit<CompiledNotification, 'offset'>;

interface CompileContext {
  file: string;
  rawOffsets: Micros[];
  start: RecordingStart;
  /** Whether values equal to the recording's first become the instance's own ("old") ones. */
  mapOld: boolean;
  isEod: boolean;
  flavorIds: Set<number>;
}

/**
 * Compiles a template's notifications in recorded order, collecting each one's recorded time
 * and whether the operation changes the instance's flavor or image.
 */
class NotificationCompiler {
  changesFlavor = false;
  changesImage = false;
  /** The recorded time of each notification compiled so far. */
  readonly timestamps: Micros[] = [];

  constructor(private readonly ctx: CompileContext) {}

  compile(original: Json, position: number): UntimedNotification {
    const n: Json = { ...original };
    const eventType = typeof n.event_type === 'string' ? n.event_type : '';
    this.timestamps.push(this.timestampOf(n, position));
    if (n.message_id !== undefined) n.message_id = { kind: SLOT.MESSAGE_ID, index: 0, which: 0 };
    const observe: Observation = { dates: [] };
    const recorded = payloadOf(n);
    let image: 0 | 1 = 0;
    if (recorded) {
      const p: Json = { ...recorded };
      n.payload = p;
      image = this.slotPayload(p, observe);
    }
    return {
      eventType,
      parts: this.render(n, eventType, image),
      aboutInstance: typeof recorded?.instance_id === 'string',
      observe,
    };
  }

  private timestampOf(n: Json, position: number): Micros {
    const { file, rawOffsets } = this.ctx;
    const stamp = typeof n.timestamp === 'string' ? EXACT_DT.exec(n.timestamp) : null;
    if (!stamp || rawOffsets[Number(stamp[1])] === undefined) {
      throw new TemplateError(file, `notification ${position + 1} has no timestamp from time_map`);
    }
    return rawOffsets[Number(stamp[1])];
  }

  /** Turns the payload fields that follow the instance into slots; returns which image it shows. */
  private slotPayload(p: Json, observe: Observation): 0 | 1 {
    this.slotDates(p, observe);
    this.slotState(p, observe);
    this.slotAuditPeriod(p);
    this.slotFlavor(p, observe);
    this.slotNewFlavor(p);
    const image = this.slotImage(p, observe);
    if (typeof p.image_ref_url === 'string' && p.image_ref_url.includes('/images/')) {
      p.image_ref_url = p.image_ref_url.replace(/\/images\/.*$/, '/images/[[[[@image_id]]]]');
    }
    return image;
  }

  private slotDates(p: Json, observe: Observation): void {
    DATE_FIELDS.forEach((field, i) => {
      const v = p[field];
      if (typeof v !== 'string') return;
      if (this.ctx.mapOld && v === this.ctx.start.dates[i]) {
        p[field] = { kind: SLOT.DATE_OLD, index: i, which: 0 };
        observe.dates[i] = DATE_OLD;
      } else {
        const dt = EXACT_DT.exec(v);
        observe.dates[i] = dt ? Number(dt[1]) : DATE_EMPTY;
      }
    });
  }

  private slotState(p: Json, observe: Observation): void {
    if (typeof p.state !== 'string') return;
    if (this.ctx.mapOld && p.state === this.ctx.start.preState) {
      p.state = { kind: SLOT.STATE_OLD, index: 0, which: 0 };
      observe.state = null;
    } else {
      observe.state = p.state;
    }
  }

  private slotAuditPeriod(p: Json): void {
    if (this.ctx.isEod) {
      p.audit_period_beginning = { kind: SLOT.EOD_BEGIN, index: 0, which: 0 };
      p.audit_period_ending = { kind: SLOT.EOD_END, index: 0, which: 0 };
    } else if (typeof p.audit_period_beginning === 'string' && EXACT_DT.test(p.audit_period_beginning)) {
      // nova's current audit period began at midnight; the recording's offset is that of another day.
      p.audit_period_beginning = { kind: SLOT.PERIOD_BEGIN, index: 0, which: 0 };
    }
  }

  private slotFlavor(p: Json, observe: Observation): void {
    if (typeof p.instance_type_id !== 'number') return;
    const which: 0 | 1 = p.instance_type_id === this.ctx.start.flavor ? 0 : 1;
    if (which) this.changesFlavor = true;
    observe.flavor = which;
    FLAVOR_FIELDS.forEach((field, i) => {
      if (p[field] !== undefined && p[field] !== null) p[field] = { kind: SLOT.FLAVOR, index: i, which };
    });
  }

  /** `new_instance_type*`: the flavor resized to (kept as recorded when the catalog has one flavor). */
  private slotNewFlavor(p: Json): void {
    for (const [field, index] of Object.entries(NEW_FLAVOR_FIELDS)) {
      if (p[field] !== undefined && p[field] !== null && this.ctx.flavorIds.size > 1) {
        this.changesFlavor = true;
        p[field] = { kind: SLOT.FLAVOR, index, which: 1 };
      }
    }
  }

  private slotImage(p: Json, observe: Observation): 0 | 1 {
    if (!isRecord(p.image_meta)) return 0;
    const image = imageSignature(p.image_meta) === this.ctx.start.image ? 0 : 1;
    if (image) this.changesImage = true;
    observe.image = image;
    p.image_meta = { kind: SLOT.IMAGE_META, index: 0, which: image };
    return image;
  }

  private render(n: Json, eventType: string, image: 0 | 1): (string | Slot)[] {
    const parts: (string | Slot)[] = [];
    const publisher: 0 | 1 = eventType.startsWith('scheduler.') ? 1 : 0;
    serialize(n, parts, (placeholder) => this.placeholderSlot(placeholder, publisher, image));
    return merged(parts);
  }

  private placeholderSlot(name: string, publisher: 0 | 1, image: 0 | 1): Slot {
    const alias = this.ctx.start.aliases.get(name);
    if (alias) return alias;
    if (name === '@image_id') return { kind: SLOT.IMAGE_ID, index: 0, which: image };
    if (name === 'publisher_id') return { kind: SLOT.PUBLISHER, index: 0, which: publisher };
    const m = PLACEHOLDER_NAME.exec(name);
    if (m) {
      const index = Number(m[2]);
      if (m[1] === 'DT') {
        if (this.ctx.rawOffsets[index] === undefined)
          throw new TemplateError(this.ctx.file, `[[[[${name}]]]] is not in time_map`);
        return { kind: SLOT.DT, index, which: 0 };
      }
      const kind = { UUID: SLOT.UUID, XUUID: SLOT.XUUID, V4: SLOT.V4, V6: SLOT.V6 }[m[1]]!;
      return { kind, index, which: 0 };
    }
    const named = (NAMED as readonly string[]).indexOf(name);
    // An unknown name gets a value of its own per operation, as upstream's `name-NNNNNN`.
    return named >= 0
      ? { kind: SLOT.NAMED, index: named, which: 0 }
      : { kind: SLOT.NAMED, index: -1, which: 0, name };
  }
}

/** Times relative to the first notification, which is when the operation starts. */
function relativeToStart(rawOffsets: Micros[], compiled: UntimedNotification[], timestamps: Micros[]) {
  const base = Math.min(...timestamps);
  const dtOffsets = rawOffsets.map((o) => (o === undefined ? NaN : o - base));
  const withOffsets = compiled.map((c, i) => ({ ...c, offset: timestamps[i] - base }));
  // Stable: notifications recorded at the same microsecond keep their recorded order.
  const ordered = withOffsets.map((c, i) => ({ c, i })).sort((a, b) => a.c.offset - b.c.offset || a.i - b.i);
  return { dtOffsets, notifications: ordered.map(({ c }) => c) };
}

function compileTemplate(
  name: string,
  header: Json,
  notifications: Json[],
  flavorIds: Set<number>,
): OperationTemplate {
  const file = `${name}.json`;
  const rawOffsets = readTimeMap(file, header);
  const operation = operationOf(name);
  const isCreate = operation === 'compute.instance.create.start';
  const start = readRecordingStart(file, notifications);
  const compiler = new NotificationCompiler({
    file,
    rawOffsets,
    start,
    mapOld: !isCreate,
    isEod: name === 'eod_exists',
    flavorIds,
  });
  const compiled = notifications.map((n, position) => compiler.compile(n, position));
  const timed = relativeToStart(rawOffsets, compiled, compiler.timestamps);
  return {
    name,
    operation,
    isCreate,
    preState: isCreate ? null : start.preState,
    postState: start.postState,
    changesFlavor: compiler.changesFlavor,
    changesImage: compiler.changesImage,
    dtOffsets: timed.dtOffsets,
    notifications: timed.notifications,
    span: timed.notifications[timed.notifications.length - 1].offset,
  };
}

/** Loads and compiles every `*.json` of a notigen template directory (eod_exists.json is required). */
export function loadTemplates(dir: string = defaultTemplateDir()): TemplateSet {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      let parsed: unknown;
      try {
        parsed = restoreNumbers(JSON.parse(protectNumbers(readFileSync(join(dir, f), 'utf8'))));
      } catch (error) {
        throw new TemplateError(f, (error as Error).message);
      }
      if (!Array.isArray(parsed) || parsed.length < 2 || !parsed.every(isRecord)) {
        throw new TemplateError(f, 'expected [ {time_map, …}, notification, … ]');
      }
      if (!isRecord(parsed[0].time_map)) throw new TemplateError(f, 'the first element has no time_map');
      return {
        name: f.slice(0, -'.json'.length),
        header: parsed[0] as Json,
        notifications: parsed.slice(1) as Json[],
      };
    });
  const { flavors, images } = buildCatalogs(files);
  if (flavors.length === 0 || images.length === 0) {
    throw new Error(`${dir}: the templates show no flavor or no image to build instances from`);
  }
  const flavorIds = new Set(flavors.map((f) => f.id));
  const compiled = files.map((f) => compileTemplate(f.name, f.header, f.notifications, flavorIds));
  const eodExists = compiled.find((t) => t.operation === 'eod_exists');
  if (!eodExists) throw new Error(`${dir}: eod_exists.json is missing`);
  const operations = compiled.filter((t) => t !== eodExists);
  if (!operations.some((t) => t.isCreate)) {
    throw new Error(`${dir}: no compute.instance.create.start_*.json template`);
  }
  return {
    dir,
    operations,
    eodExists,
    flavors,
    images,
    maxSpan: Math.max(...operations.map((t) => t.span)),
  };
}
