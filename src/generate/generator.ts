import { Micros, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_SECOND, parseIso8601 } from '../time/micros';
import { MinHeap } from '../util/min-heap';
import { pyDatetime, startOfDay } from './pytime';
import { fmix32, hashWords, hex32, Random, seedWords, uuidFromWords } from './random';
import {
  CompiledNotification,
  DATE_EMPTY,
  DATE_OLD,
  loadTemplates,
  NAMED_INSTANCE_ATTRIBUTES,
  OperationTemplate,
  Slot,
  SLOT,
  TemplateSet,
} from './templates';

/**
 * A deterministic cloud: a population of instances (tenants, users, hosts, flavors, images)
 * going through operations recorded in notigen templates, their notifications interleaved in
 * timestamp order, and nova's end-of-day audit: after each midnight (UTC) one
 * `compute.instance.exists` per instance that existed during the day that ended, with the
 * audit period of that day and the instance's launched_at/deleted_at as its notifications
 * last showed them.
 *
 * Memory is bounded by the population and the operations under way, never by the output.
 */

export interface GenerateOptions {
  /** Same seed (and other options) ⇒ byte-identical output. Default 1. */
  seed?: string | number;
  /** First timestamp: epoch microseconds or ISO-8601 (UTC unless a zone is given). */
  start: Micros | string;
  /** How much simulated time to cover; Infinity for no end. */
  hours: number;
  /** Average notifications per second of simulated time. */
  rate: number;
  /** Size of the instance population (default grows with the rate, see defaultInstanceCount). */
  instances?: number;
  /** Compiled templates (default: data/notigen-templates). */
  templates?: TemplateSet;
}

export interface GeneratedNotification {
  timestamp: Micros;
  eventType: string;
  messageId: string;
  /** The instance the payload names, if any (the natural Kafka key). */
  instanceId: string | null;
  /** The notification, one line of JSON. */
  json: string;
}

/** Relative frequency of operations on an instance in the state they start from. */
const OPERATION_WEIGHTS: Record<string, number> = {
  'compute.instance.reboot.start': 20,
  'compute.instance.snapshot.start': 14,
  'compute.instance.delete.start': 8,
  'compute.instance.resize.prep.start': 6,
  'compute.instance.resize.confirm.start': 8,
  'compute.instance.rebuild.start': 6,
  'compute.instance.power_off.start': 4,
  'compute.instance.rescue.start': 3,
  'compute.instance.unrescue.start': 8,
};
const DEFAULT_OPERATION_WEIGHT = 4;
const DELETE_OPERATION = 'compute.instance.delete.start';
/** A delete recorded from another state still works on a stopped, errored or stuck instance. */
const CLEANUP_DELETE_WEIGHT = 2;
/** Each compute host starts its audit within this long after midnight, then goes instance by instance. */
const AUDIT_SPREAD: Micros = 120 * MICROS_PER_SECOND;

export function defaultInstanceCount(rate: number): number {
  return Math.min(50000, Math.max(20, Math.round(rate * 1800)));
}

interface Instance {
  id: string;
  /** NAMED placeholders 0..6: tenant_id, user_id, display_name, hostname, reservation_id, host, node. */
  named: string[];
  hostIndex: number;
  state: string;
  /** DATE_FIELDS order: launched_at, created_at, deleted_at, terminated_at (null: empty). */
  dates: (Micros | null)[];
  flavor: number;
  image: number;
  busy: boolean;
  /** Position in the idle list, -1 when not in it. */
  idleAt: number;
}

interface Operation {
  seq: number;
  /** Time of the next notification (or of the end, once all are out). */
  at: Micros;
  /** Time of the first notification. */
  base: Micros;
  step: number;
  template: OperationTemplate;
  instance: Instance;
  seedA: number;
  seedB: number;
  /** The instance as the operation found it. */
  oldState: string;
  oldDates: (Micros | null)[];
  oldFlavor: number;
  oldImage: number;
  newFlavor: number;
  newImage: number;
  scheduler: number;
  /** Set on end-of-day .exists: the audit period. */
  audit: { begin: Micros; end: Micros } | null;
  /** Placeholder values already rendered: most recur in every notification of the operation. */
  values: Map<number, string> | null;
}

interface StateChoice {
  templates: OperationTemplate[];
  cumulative: number[];
}

const HOST_SALT = 0x686f7374;

function resolveStart(start: Micros | string): Micros {
  if (typeof start === 'number') return Math.round(start);
  const t = parseIso8601(start);
  if (t === undefined) throw new Error(`start ${start} is not an ISO-8601 datetime`);
  return t;
}

class Cloud {
  private readonly rng: Random;
  private readonly messageKeys: number[];
  private readonly templates: TemplateSet;
  private readonly start: Micros;
  private readonly end: Micros;
  /** Earlier than start by the longest operation, so operations already under way show up. */
  private readonly simStart: Micros;
  private readonly rate: number;
  private readonly target: number;
  private readonly instances = new Map<string, Instance>();
  private readonly idle: Instance[] = [];
  private alive = 0;
  private readonly heap = new MinHeap<Operation>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  private seq = 0;
  private messages = 0;
  private readonly tenants: { id: string; users: string[] }[] = [];
  private readonly hosts: string[] = [];
  private readonly schedulers = ['scheduler-01', 'scheduler-02', 'scheduler-03'];
  private readonly creates: OperationTemplate[];
  private readonly byState = new Map<string, StateChoice | null>();
  private readonly meanSize: number;

  constructor(options: GenerateOptions) {
    if (!(options.rate > 0) || !Number.isFinite(options.rate))
      throw new Error('rate must be a positive number');
    if (!(options.hours > 0)) throw new Error('hours must be positive');
    const seed = String(options.seed ?? 1);
    this.rng = new Random(seed);
    this.messageKeys = seedWords(`${seed}/message_id`);
    this.templates = options.templates ?? loadTemplates();
    this.start = resolveStart(options.start);
    this.end = Number.isFinite(options.hours)
      ? this.start + Math.round(options.hours * MICROS_PER_HOUR)
      : Infinity;
    this.simStart = this.start - this.templates.maxSpan - MICROS_PER_SECOND;
    this.rate = options.rate;
    this.target = Math.max(1, Math.round(options.instances ?? defaultInstanceCount(options.rate)));
    this.creates = this.templates.operations.filter((t) => t.isCreate);
    const ops = this.templates.operations;
    this.meanSize = ops.reduce((n, t) => n + t.notifications.length, 0) / ops.length;
    this.populate();
  }

  private populate(): void {
    const rng = this.rng;
    const hostCount = Math.max(2, Math.ceil(this.target / 25));
    for (let i = 0; i < hostCount; i++) this.hosts.push(`compute-${String(i + 1).padStart(4, '0')}`);
    const tenantCount = Math.max(1, Math.ceil(this.target / 4));
    for (let i = 0; i < tenantCount; i++) {
      const users = Array.from({ length: rng.between(1, 3) }, () => String(100000 + rng.int(899999)));
      this.tenants.push({ id: String(100000 + rng.int(899999)), users });
    }
    for (let i = 0; i < this.target; i++) {
      const r = rng.float();
      const state = r < 0.9 ? 'active' : r < 0.96 ? 'stopped' : 'error';
      // Launched before generation starts, up to 400 days earlier; an errored build never launched.
      const launched = this.simStart - MICROS_PER_HOUR - Math.floor(rng.float() * 400 * MICROS_PER_DAY);
      const created = launched - rng.between(20 * MICROS_PER_SECOND, 300 * MICROS_PER_SECOND);
      const instance = this.newInstance(state, state === 'error' ? null : launched, created);
      this.makeIdle(instance);
    }
  }

  private newInstance(state: string, launchedAt: Micros | null, createdAt: Micros | null): Instance {
    const rng = this.rng;
    const id = uuidFromWords(rng.next32(), rng.next32(), rng.next32(), rng.next32());
    const tenant = rng.pick(this.tenants);
    const hostIndex = rng.int(this.hosts.length);
    const host = this.hosts[hostIndex];
    const reservation = `r-${hex32(rng.next32()).slice(0, 8)}`;
    const instance: Instance = {
      id,
      named: [
        tenant.id,
        rng.pick(tenant.users),
        `Instance_${rng.int(899999)}`,
        `server-${rng.int(899999)}`,
        reservation,
        host,
        `${host}.nova.local`,
      ],
      hostIndex,
      state,
      dates: [launchedAt, createdAt, null, null],
      flavor: rng.int(this.templates.flavors.length),
      image: rng.int(this.templates.images.length),
      busy: false,
      idleAt: -1,
    };
    this.instances.set(id, instance);
    if (state !== 'deleted') this.alive++;
    return instance;
  }

  private makeIdle(instance: Instance): void {
    instance.busy = false;
    instance.idleAt = this.idle.length;
    this.idle.push(instance);
  }

  private takeIdle(instance: Instance): void {
    const last = this.idle.pop()!;
    if (last !== instance) {
      this.idle[instance.idleAt] = last;
      last.idleAt = instance.idleAt;
    }
    instance.idleAt = -1;
    instance.busy = true;
  }

  private setState(instance: Instance, state: string): void {
    if (instance.state !== 'deleted' && state === 'deleted') this.alive--;
    else if (instance.state === 'deleted' && state !== 'deleted') this.alive++;
    instance.state = state;
  }

  /** Operations that can run on an instance in `state`, with their weights. */
  private choicesFor(state: string): StateChoice | null {
    let choice = this.byState.get(state);
    if (choice !== undefined) return choice;
    const ops = this.templates.operations.filter((t) => !t.isCreate);
    const native = ops.filter((t) => t.preState === state);
    const variants = new Map<string, number>();
    for (const t of native) variants.set(t.operation, (variants.get(t.operation) ?? 0) + 1);
    const cleanup = ops.filter(
      (t) => t.operation === DELETE_OPERATION && t.postState === 'deleted' && t.preState !== state,
    );
    const weighted: [OperationTemplate, number][] = [
      ...native.map((t): [OperationTemplate, number] => [
        t,
        (OPERATION_WEIGHTS[t.operation] ?? DEFAULT_OPERATION_WEIGHT) / variants.get(t.operation)!,
      ]),
      ...cleanup.map((t): [OperationTemplate, number] => [t, CLEANUP_DELETE_WEIGHT / cleanup.length]),
    ];
    let total = 0;
    choice = weighted.length
      ? { templates: weighted.map(([t]) => t), cumulative: weighted.map(([, w]) => (total += w)) }
      : null;
    this.byState.set(state, choice);
    return choice;
  }

  private otherThan(current: number, count: number): number {
    return count <= 1 ? current : (current + 1 + this.rng.int(count - 1)) % count;
  }

  private makeOperation(at: Micros, template: OperationTemplate, instance: Instance): Operation {
    const rng = this.rng;
    return {
      seq: this.seq++,
      at,
      base: at,
      step: 0,
      template,
      instance,
      seedA: rng.next32(),
      seedB: rng.next32(),
      oldState: instance.state,
      oldDates: instance.dates.slice(),
      oldFlavor: instance.flavor,
      oldImage: instance.image,
      newFlavor: template.changesFlavor
        ? this.otherThan(instance.flavor, this.templates.flavors.length)
        : instance.flavor,
      newImage: template.changesImage
        ? this.otherThan(instance.image, this.templates.images.length)
        : instance.image,
      scheduler: rng.int(this.schedulers.length),
      audit: null,
      values: null,
    };
  }

  /**
   * Queues an operation. Notifications before `start` are not sent, but what they say about the
   * instance is applied (the instance is held by the operation, so nothing else sees it early).
   */
  private launch(op: Operation): void {
    const notifications = op.template.notifications;
    while (op.step < notifications.length && op.base + notifications[op.step].offset < this.start) {
      this.observe(op, notifications[op.step]);
      op.step++;
    }
    op.at = op.base + (op.step < notifications.length ? notifications[op.step].offset : op.template.span);
    this.heap.push(op);
  }

  private finish(op: Operation): void {
    if (op.audit) return;
    const instance = op.instance;
    // A deleted instance stays known until the audit after its deletion has reported it.
    if (instance.state === 'deleted') instance.busy = false;
    else this.makeIdle(instance);
  }

  private observe(op: Operation, notification: CompiledNotification): void {
    if (!notification.aboutInstance) return;
    const seen = notification.observe;
    const instance = op.instance;
    if (seen.state !== undefined) this.setState(instance, seen.state ?? op.oldState);
    for (let i = 0; i < seen.dates.length; i++) {
      const source = seen.dates[i];
      if (source === undefined) continue;
      instance.dates[i] =
        source === DATE_OLD
          ? op.oldDates[i]
          : source === DATE_EMPTY
            ? null
            : op.base + op.template.dtOffsets[source];
    }
    if (seen.flavor !== undefined) instance.flavor = seen.flavor ? op.newFlavor : op.oldFlavor;
    if (seen.image !== undefined) instance.image = seen.image ? op.newImage : op.oldImage;
  }

  /** An operation begins at `at`; returns when the next one begins. */
  private arrive(at: Micros): Micros {
    const rng = this.rng;
    const pCreate = Math.min(1, Math.max(0.02, 0.1 + (0.9 * (this.target - this.alive)) / this.target));
    // Before `start` only operations still under way at `start` happen: one that would be over
    // by then would change instances (launch, delete them) without a trace in the output.
    const underWay = (template: OperationTemplate) => at + template.span >= this.start;
    let size = this.meanSize;
    if (rng.float() < pCreate || this.idle.length === 0) {
      if (this.alive < 2 * this.target) {
        const template = rng.pick(this.creates);
        size = template.notifications.length;
        if (underWay(template)) {
          const instance = this.newInstance('building', null, null);
          instance.busy = true;
          this.launch(this.makeOperation(at, template, instance));
        }
      }
    } else {
      const instance = this.idle[rng.int(this.idle.length)];
      const choice = this.choicesFor(instance.state);
      if (choice) {
        const x = rng.float() * choice.cumulative[choice.cumulative.length - 1];
        let i = 0;
        while (choice.cumulative[i] <= x) i++;
        const template = choice.templates[i];
        size = template.notifications.length;
        if (underWay(template)) {
          this.takeIdle(instance);
          this.launch(this.makeOperation(at, template, instance));
        }
      }
    }
    // Gaps scale with the size of the operation just begun, so notifications (not operations)
    // arrive at the rate asked for; the end-of-day audit's share is left to it.
    const opRate = Math.max(this.rate * 0.1, this.rate - this.alive / 86400);
    return at + Math.max(1, Math.round((size / opRate) * MICROS_PER_SECOND * rng.exponential()));
  }

  /** nova's instance_usage_audit for the day ending at `midnight`. */
  private audit(midnight: Micros): void {
    const begin = midnight - MICROS_PER_DAY;
    const day = midnight / MICROS_PER_DAY;
    const nextOnHost = new Map<number, Micros>();
    for (const instance of this.instances.values()) {
      // Instances launched before the period's end and not terminated before its beginning.
      const launched = instance.dates[0];
      if (launched === null || launched >= midnight) continue;
      if (instance.state === 'deleted') {
        const ended = instance.dates[2] ?? instance.dates[3];
        if (ended === null || ended <= begin) continue;
      }
      let at = nextOnHost.get(instance.hostIndex);
      if (at === undefined) at = midnight + (hashWords(HOST_SALT, instance.hostIndex, day, 0) % AUDIT_SPREAD);
      at += this.rng.between(20_000, 80_000);
      nextOnHost.set(instance.hostIndex, at);
      const op = this.makeOperation(at, this.templates.eodExists, instance);
      op.audit = { begin, end: midnight };
      this.heap.push(op);
    }
  }

  /** Forgets deleted instances no later audit can report. */
  private purge(midnight: Micros): void {
    for (const [id, instance] of this.instances) {
      if (instance.state === 'deleted' && !instance.busy && (instance.dates[2] ?? -Infinity) <= midnight) {
        this.instances.delete(id);
      }
    }
  }

  *run(): Generator<GeneratedNotification, void, undefined> {
    let nextArrival = this.simStart;
    let nextMidnight = startOfDay(this.simStart) + MICROS_PER_DAY;
    for (;;) {
      const top = this.heap.peek();
      const tHeap = top ? top.at : Infinity;
      if (nextMidnight <= tHeap && nextMidnight <= nextArrival) {
        if (nextMidnight >= this.end) return;
        if (nextMidnight >= this.start) this.audit(nextMidnight);
        this.purge(nextMidnight);
        nextMidnight += MICROS_PER_DAY;
        continue;
      }
      if (nextArrival <= tHeap) {
        if (nextArrival >= this.end) return;
        nextArrival = this.arrive(nextArrival);
        continue;
      }
      if (tHeap >= this.end) return;
      const op = this.heap.pop()!;
      const notifications = op.template.notifications;
      if (op.step >= notifications.length) {
        this.finish(op);
        continue;
      }
      const notification = notifications[op.step];
      const timestamp = op.at;
      const messageId = this.nextMessageId();
      const json = this.render(op, notification, messageId);
      if (!op.audit) this.observe(op, notification);
      op.step++;
      if (op.step < notifications.length) {
        op.at = op.base + notifications[op.step].offset;
        this.heap.push(op);
      } else {
        op.values = null;
        this.finish(op);
      }
      yield {
        timestamp,
        eventType: notification.eventType,
        messageId,
        instanceId: notification.aboutInstance ? op.instance.id : null,
        json,
      };
    }
  }

  /** Unique by construction: the first word is a bijection of the message counter. */
  private nextMessageId(): string {
    const n = this.messages++;
    const lo = n % 4294967296;
    const hi = Math.floor(n / 4294967296);
    const k = this.messageKeys;
    return uuidFromWords(
      fmix32((lo ^ k[0]) >>> 0),
      hashWords(k[1], lo, hi, 1),
      hashWords(k[2], lo, hi, 2),
      hashWords(k[3], lo, hi, 3),
    );
  }

  /** Word `word` of placeholder `index` of a kind, the same every time the operation asks. */
  private opWord(op: Operation, kind: number, index: number, word: number): number {
    return hashWords(op.seedA, op.seedB, (kind << 16) | (index & 0xffff), word);
  }

  private render(op: Operation, notification: CompiledNotification, messageId: string): string {
    const parts = notification.parts;
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      out += typeof part === 'string' ? part : this.slot(op, part, messageId);
    }
    return out;
  }

  private slot(op: Operation, slot: Slot, messageId: string): string {
    if (slot.kind > SLOT.V6) return this.otherValue(op, slot, messageId);
    if (op.template.notifications.length === 1) return this.placeholderValue(op, slot);
    const key = slot.kind * 65536 + slot.index;
    op.values ??= new Map();
    let value = op.values.get(key);
    if (value === undefined) {
      value = this.placeholderValue(op, slot);
      op.values.set(key, value);
    }
    return value;
  }

  /** The text of a per-operation placeholder (inside a JSON string). */
  private placeholderValue(op: Operation, slot: Slot): string {
    switch (slot.kind) {
      case SLOT.DT:
        return pyDatetime(op.base + op.template.dtOffsets[slot.index]);
      case SLOT.INSTANCE:
        return op.instance.id;
      case SLOT.UUID:
      case SLOT.XUUID: {
        const w = [0, 1, 2, 3].map((j) => this.opWord(op, slot.kind, slot.index, j));
        const uuid = uuidFromWords(w[0], w[1], w[2], w[3]);
        return slot.kind === SLOT.UUID ? uuid : uuid.replace(/-/g, '');
      }
      case SLOT.V4: {
        // upstream's range: each octet 127..253
        const w = this.opWord(op, SLOT.V4, slot.index, 0);
        return [w >>> 24, (w >>> 16) & 255, (w >>> 8) & 255, w & 255].map((b) => 127 + (b % 127)).join('.');
      }
      case SLOT.V6: {
        const groups: string[] = [];
        for (let j = 0; j < 4; j++) {
          const h = hex32(this.opWord(op, SLOT.V6, slot.index, j));
          groups.push(h.slice(0, 4), h.slice(4));
        }
        return groups.join(':');
      }
    }
    throw new Error(`unknown template slot ${slot.kind}`);
  }

  /** Instance attributes and whole JSON values: cheap, or different in each notification. */
  private otherValue(op: Operation, slot: Slot, messageId: string): string {
    const { flavors, images } = this.templates;
    switch (slot.kind) {
      case SLOT.NAMED: {
        if (slot.index >= 0 && slot.index < NAMED_INSTANCE_ATTRIBUTES) return op.instance.named[slot.index];
        const name = slot.index === 7 ? 'image' : slot.index === 8 ? 'device' : (slot.name ?? 'value');
        return `${name}-${this.opWord(op, SLOT.NAMED, slot.index, name.length) % 899999}`;
      }
      case SLOT.PUBLISHER:
        return slot.which ? `scheduler.${this.schedulers[op.scheduler]}` : `compute.${op.instance.named[5]}`;
      case SLOT.IMAGE_ID:
        return images[slot.which ? op.newImage : op.oldImage].id;
      case SLOT.MESSAGE_ID:
        return `"${messageId}"`;
      case SLOT.DATE_OLD: {
        const t = op.oldDates[slot.index];
        return t === null ? '""' : `"${pyDatetime(t)}"`;
      }
      case SLOT.STATE_OLD:
        return JSON.stringify(op.oldState);
      case SLOT.PERIOD_BEGIN:
        return `"${pyDatetime(startOfDay(op.at))}"`;
      case SLOT.EOD_BEGIN:
        return `"${pyDatetime(op.audit!.begin)}"`;
      case SLOT.EOD_END:
        return `"${pyDatetime(op.audit!.end)}"`;
      case SLOT.FLAVOR:
        return flavors[slot.which ? op.newFlavor : op.oldFlavor].raw[slot.index];
      case SLOT.IMAGE_META:
        return images[slot.which ? op.newImage : op.oldImage].metaJson;
    }
    throw new Error(`unknown template slot ${slot.kind}`);
  }
}

/**
 * Notifications in timestamp order (ties in a fixed order) for `options`: a lazy sequence, so
 * millions can be streamed; with `hours: Infinity` it never ends.
 */
export function* generateNotifications(
  options: GenerateOptions,
): Generator<GeneratedNotification, void, undefined> {
  yield* new Cloud(options).run();
}
