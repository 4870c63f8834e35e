import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigurationError } from '../config/errors';
import { PathMatch } from './jsonpath';

/**
 * A trait plugin, as StackDistiller's `TraitPluginBase`: one instance per trait definition,
 * made with the `parameters` of the definition's `plugin:` entry; `traitValue` is called for
 * every notification the definition matches, even when the trait's `fields` match nothing
 * (then `matches` is empty). It receives every non-null match as `[path, value]` (the path
 * as jsonpath-rw spells it, e.g. `payload.image_meta.[0]`). Returning null or undefined means
 * "no trait"; any other value is converted to the trait's type. A plugin may throw: that
 * notification goes to the DLQ with the message.
 */
export interface TraitPlugin {
  traitValue(matches: PathMatch[]): unknown;
}

/** A plugin object with StackDistiller's Python-style method name, accepted too. */
export interface PythonStyleTraitPlugin {
  trait_value(matches: PathMatch[]): unknown;
}

/** A plugin class (`new Plugin(params)`) or factory (`plugin(params)`). */
export type TraitPluginProvider =
  | (new (params: Record<string, unknown>) => TraitPlugin | PythonStyleTraitPlugin)
  | ((params: Record<string, unknown>) => TraitPlugin | PythonStyleTraitPlugin);

/** A `--plugin name=module` that cannot be loaded. */
export class PluginLoadError extends ConfigurationError {
  constructor(message: string) {
    super(message);
    this.name = 'PluginLoadError';
  }
}

/** Makes a plugin instance from its provider; throws an Error saying what is wrong with it. */
export function instantiatePlugin(
  provider: TraitPluginProvider,
  params: Record<string, unknown>,
): TraitPlugin {
  const proto = (provider as { prototype?: Record<string, unknown> }).prototype;
  const isClass =
    /^class[\s{]/.test(Function.prototype.toString.call(provider)) ||
    (proto !== undefined &&
      (typeof proto.traitValue === 'function' || typeof proto.trait_value === 'function'));
  const instance = isClass
    ? new (provider as new (p: Record<string, unknown>) => unknown)(params)
    : (provider as (p: Record<string, unknown>) => unknown)(params);
  const candidate = instance as { traitValue?: unknown; trait_value?: unknown } | null;
  if (candidate && typeof candidate.traitValue === 'function') return candidate as TraitPlugin;
  if (candidate && typeof candidate.trait_value === 'function') {
    const method = candidate.trait_value as (m: PathMatch[]) => unknown;
    return { traitValue: (matches) => method.call(candidate, matches) };
  }
  throw new Error('the plugin has no traitValue(matches) method');
}

/** `name=module[#Export]`, as given to `--plugin`. */
export function parsePluginSpec(spec: string): { name: string; target: string } {
  const at = spec.indexOf('=');
  const name = spec.slice(0, at).trim();
  const target = spec.slice(at + 1).trim();
  if (at <= 0 || !name || !target) {
    throw new PluginLoadError(
      `--plugin ${JSON.stringify(spec)}: expected name=module[#Export] (e.g. host=./plugins/host.js)`,
    );
  }
  return { name, target };
}

function pickExport(exported: unknown, name: string, exportName: string | undefined): unknown {
  if (exportName !== undefined) {
    return typeof exported === 'object' || typeof exported === 'function'
      ? (exported as Record<string, unknown> | null)?.[exportName]
      : undefined;
  }
  if (typeof exported === 'function') return exported;
  if (typeof exported === 'object' && exported !== null) {
    const e = exported as Record<string, unknown>;
    for (const candidate of [e.default, e[name], e.plugin])
      if (typeof candidate === 'function') return candidate;
    const functions = Object.values(e).filter((v) => typeof v === 'function');
    if (functions.length === 1) return functions[0];
  }
  return undefined;
}

/**
 * Loads one user trait plugin from `module[#Export]`: a path (relative to `baseDir`) or a package
 * name. Without `#Export`, the plugin is the module's default export, `module.exports` itself, the
 * export named like the plugin, the export `plugin`, or the module's only function.
 */
export function loadTraitPlugin(name: string, target: string, baseDir = process.cwd()): TraitPluginProvider {
  const hash = target.lastIndexOf('#');
  const module = hash > 0 ? target.slice(0, hash) : target;
  const exportName = hash > 0 ? target.slice(hash + 1) : undefined;
  const local = module.startsWith('.') || isAbsolute(module) ? resolve(baseDir, module) : undefined;
  let exported: unknown;
  try {
    exported = createRequire(join(baseDir, 'noop.js'))(local ?? module);
  } catch (error) {
    throw new PluginLoadError(
      `trait plugin ${name}: cannot load ${local ?? module}: ${(error as Error).message}`,
    );
  }
  const provider = pickExport(exported, name, exportName);
  if (typeof provider !== 'function') {
    throw new PluginLoadError(
      `trait plugin ${name}: ${local ?? module} exports no plugin class or factory ` +
        (exportName ? `named "${exportName}"` : `(default export, module.exports, "${name}" or "plugin")`),
    );
  }
  return provider as TraitPluginProvider;
}

/** Loads the plugins of `--plugin name=module[#Export]` options. */
export function loadTraitPlugins(
  specs: readonly string[],
  baseDir = process.cwd(),
): Record<string, TraitPluginProvider> {
  const plugins: Record<string, TraitPluginProvider> = Object.create(null);
  for (const spec of specs) {
    const { name, target } = parsePluginSpec(spec);
    plugins[name] = loadTraitPlugin(name, target, baseDir);
  }
  return plugins;
}

/** Loads winchester.yaml's `distiller_trait_plugins` (name: module[#Export], relative to the config file's folder). */
export function loadTraitPluginMap(
  spec: Readonly<Record<string, string>>,
  baseDir: string,
): Record<string, TraitPluginProvider> {
  const plugins: Record<string, TraitPluginProvider> = Object.create(null);
  for (const [name, target] of Object.entries(spec)) plugins[name] = loadTraitPlugin(name, target, baseDir);
  return plugins;
}
