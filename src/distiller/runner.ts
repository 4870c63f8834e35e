import { Trait, TraitType } from '../events/event';
import { Converter } from './convert';
import { chainSource } from './jsonpath';

/** One trait of a definition, ready to run. */
export interface CompiledTrait {
  readonly name: string;
  readonly type: TraitType;
  /** Named message_id, event_type or timestamp: counts as a trait, but the envelope wins. */
  readonly envelopeName: boolean;
  readonly fields: readonly string[];
  readonly plugin?: string;
  /** Without a plugin and with plain key paths: the key chains, which the trait runner reads inline. */
  readonly chains?: readonly (readonly string[])[];
  /** The value before conversion; undefined or null when the trait is absent. May throw PathFailure. */
  readonly extract: (body: unknown) => unknown;
  /** Throws ConversionFailure. */
  readonly convert: Converter;
}

/**
 * Extracts and converts every trait of one definition into `traits`; returns how many had a
 * value (envelope-named ones included). Throws what a trait's extraction or conversion throws.
 */
export type TraitRunner = (body: unknown, traits: Record<string, Trait>) => number;

/**
 * Generates one function per definition that runs all its traits in order, reading plain key
 * chains inline and storing with constant keys: no per-trait closure calls, and property reads
 * whose inline caches stay monomorphic. Trait names and keys enter the source only as JSON string
 * literals; everything else (plugins, general paths, conversions) is called through arrays.
 */
export function compileTraitRunner(traits: readonly CompiledTrait[]): TraitRunner {
  const body: string[] = ['let raw, value, count = 0;'];
  traits.forEach((t, i) => {
    if (t.chains) {
      t.chains.forEach((keys, k) => {
        const read = chainSource(keys, 'raw', `t${i}_${k}`);
        body.push(k === 0 ? read : `if (raw === undefined || raw === null) {\n${read}\n}`);
      });
    } else {
      body.push(`raw = extract[${i}](body);`);
    }
    // Nova sends '' for unset dates and numbers: absent, without trying the next path.
    const present = `raw !== undefined && raw !== null${t.type === 'text' ? '' : " && raw !== ''"}`;
    const convert =
      t.type === 'text' && t.chains
        ? `typeof raw === 'string' ? raw : convert[${i}](raw)`
        : t.type === 'int' && t.chains
          ? `typeof raw === 'number' && (raw | 0) === raw && raw !== 0 ? raw : convert[${i}](raw)`
          : `convert[${i}](raw)`;
    const store = t.envelopeName
      ? ''
      : `traits[${JSON.stringify(t.name)}] = { type: ${JSON.stringify(t.type)}, value };`;
    body.push(`if (${present}) { value = ${convert}; count++; ${store} }`);
  });
  body.push('return count;');
  const factory = new Function(
    'extract',
    'convert',
    'hasOwn',
    `return function runTraits(body, traits) {\n${body.join('\n')}\n};`,
  );
  return factory(
    traits.map((t) => t.extract),
    traits.map((t) => t.convert),
    Object.prototype.hasOwnProperty,
  ) as TraitRunner;
}
