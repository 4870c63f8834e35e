import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Distiller, EventDefinitionError, loadEventDefinitions, loadTraitPluginMap } from '../distiller';
import { TraitType } from '../events/event';
import { readTriggerDefinitions } from '../triggers/load';
import { TriggerDefinition } from '../triggers/definition';
import { TimeCriterion } from '../triggers/criteria';
import { ConfigProblem, ConfigurationError } from '../config/errors';
import {
  handlerMap,
  HandlerParamsValidator,
  KnownHandlers,
  PipelineHandlerEntry,
  readPipelines,
  UPSTREAM_HANDLER_NAMES,
} from '../pipeline/pipelines-file';
import { configDir, loadWinchesterConfig, WinchesterConfig } from '../config/winchester-config';
import { withConfiguredHandlers } from '../pipeline/config';
import { RetryPolicy } from '../pipeline/retry';

export interface TopologyCheckOptions {
  /** winchester.yaml to use; by default `<dir>/winchester.yaml` when it exists. */
  configFile?: string;
  /** winchester.yaml already loaded (a role's, with its environment overrides): used instead of configFile. */
  config?: WinchesterConfig;
  /**
   * Handlers pipelines may use (names, or definitions whose params are validated too); default
   * UPSTREAM_HANDLER_NAMES. The entries under `pipeline_handlers` of winchester.yaml are added
   * as roles add them (withConfiguredHandlers).
   */
  knownHandlers?: KnownHandlers;
}

export interface TopologyCheckResult {
  dir: string;
  config: WinchesterConfig | null;
  files: { eventDefinitions: string; triggers: string; pipelines: string };
  distiller: Distiller | null;
  triggers: TriggerDefinition[];
  pipelines: Map<string, PipelineHandlerEntry[]>;
  /** The retry policy of each pipeline written with one (`name: {handlers, retry}`). */
  retries: Map<string, RetryPolicy>;
  knownHandlers: ReadonlyMap<string, HandlerParamsValidator | null>;
  errors: ConfigProblem[];
  warnings: ConfigProblem[];
}

/** `file:line: message` from a ConfigurationError's message, when it has that shape. */
function problemFromError(error: ConfigurationError, fallbackFile: string): ConfigProblem {
  if (error instanceof EventDefinitionError) {
    return { severity: 'error', file: error.file, line: error.line, message: error.reason };
  }
  const m = /^(.+?):(\d+):(?:\d+:)? (.*)$/s.exec(error.message);
  if (m) return { severity: 'error', file: m[1], line: Number(m[2]), message: m[3] };
  return { severity: 'error', file: fallbackFile, line: 0, message: error.message };
}

/**
 * Loads a topology bundle (event_definitions.yaml, triggers.yaml, pipelines.yaml, and
 * winchester.yaml if any) and collects every problem with its file and line: what
 * `winchester check` reports, and what every role loads its bundle through. Nothing is
 * started; custom handler modules are loaded, as a role loads them.
 */
export function checkTopology(dir: string, options: TopologyCheckOptions = {}): TopologyCheckResult {
  const root = resolve(dir);
  if (!isDirectory(root)) return notABundle(dir);
  // Problems are kept in the order files are read: byFileAndLine groups them by file in that order.
  const problems: Problems = { errors: [], warnings: [] };
  const config = bundleConfig(root, dir, options, problems);
  const files = bundleFiles(dir, config);
  const distiller = checkEventDefinitions(files.eventDefinitions, config, problems);
  const { handlers: knownHandlers, errors: handlerErrors } = withConfiguredHandlers(
    handlerMap(options.knownHandlers ?? UPSTREAM_HANDLER_NAMES),
    config,
  );
  problems.errors.push(...handlerErrors);
  const { pipelines, retries } = checkPipelinesFile(files.pipelines, knownHandlers, problems);
  const triggers = checkTriggersFile(files.triggers, pipelines, problems);
  if (distiller) problems.warnings.push(...crossCheck(triggers, distiller));

  return {
    dir,
    config,
    files,
    distiller,
    triggers,
    pipelines: pipelines ?? new Map(),
    retries,
    knownHandlers,
    errors: byFileAndLine(problems.errors),
    warnings: byFileAndLine(problems.warnings),
  };
}

interface Problems {
  errors: ConfigProblem[];
  warnings: ConfigProblem[];
}

/**
 * The bundle's winchester.yaml: options.config, else options.configFile or the bundle's own file
 * when there is one, else null. Its errors and warnings go to problems.
 */
function bundleConfig(
  root: string,
  dir: string,
  options: TopologyCheckOptions,
  problems: Problems,
): WinchesterConfig | null {
  let config: WinchesterConfig | null = options.config ?? null;
  const configFile = options.config
    ? (options.config.file ?? undefined)
    : (options.configFile ??
      (existsSync(join(root, 'winchester.yaml')) ? join(dir, 'winchester.yaml') : undefined));
  if (!config && configFile) {
    try {
      config = loadWinchesterConfig(configFile, {});
    } catch (error) {
      if (!(error instanceof ConfigurationError)) throw error;
      problems.errors.push(problemFromError(error, configFile));
    }
  }
  for (const w of config?.warnings ?? [])
    problems.warnings.push({
      ...problemFromError(new ConfigurationError(w), configFile ?? ''),
      severity: 'warning',
    });
  return config;
}

/** The bundle's three files, under the names winchester.yaml gives them (upstream's by default). */
function bundleFiles(dir: string, config: WinchesterConfig | null): TopologyCheckResult['files'] {
  const names = config?.files ?? {
    eventDefinitions: 'event_definitions.yaml',
    triggers: 'triggers.yaml',
    pipelines: 'pipelines.yaml',
  };
  return {
    eventDefinitions: join(dir, names.eventDefinitions),
    triggers: join(dir, names.triggers),
    pipelines: join(dir, names.pipelines),
  };
}

/** A bundle file's text, or null when it cannot be read (an error in problems). */
function readBundleFile(file: string, problems: Problems): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'missing from the topology bundle'
        : (error as Error).message;
    problems.errors.push({ severity: 'error', file, line: 0, message: reason });
    return null;
  }
}

/** The distiller of event_definitions.yaml (with winchester.yaml's trait plugins), or null. */
function checkEventDefinitions(
  file: string,
  config: WinchesterConfig | null,
  problems: Problems,
): Distiller | null {
  if (readBundleFile(file, problems) === null) return null;
  try {
    const plugins = config ? loadTraitPluginMap(config.distillerTraitPlugins, configDir(config)) : undefined;
    const distiller = loadEventDefinitions(file, { catchAll: config?.catchAllNotifications, plugins });
    for (const w of distiller.warnings)
      problems.warnings.push({ severity: 'warning', file: w.file, line: w.line, message: w.message });
    return distiller;
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    problems.errors.push(problemFromError(error, file));
    return null;
  }
}

/** The pipelines of pipelines.yaml, or null when the file cannot be read. */
function checkPipelinesFile(
  file: string,
  knownHandlers: KnownHandlers,
  problems: Problems,
): { pipelines: Map<string, PipelineHandlerEntry[]> | null; retries: Map<string, RetryPolicy> } {
  const text = readBundleFile(file, problems);
  if (text === null) return { pipelines: null, retries: new Map() };
  const checked = readPipelines(text, file, knownHandlers);
  problems.errors.push(...checked.errors);
  problems.warnings.push(...checked.warnings);
  return { pipelines: checked.pipelines, retries: checked.retries };
}

/** The triggers of triggers.yaml; `pipelines` null (unreadable file) leaves pipeline names unchecked. */
function checkTriggersFile(
  file: string,
  pipelines: Map<string, PipelineHandlerEntry[]> | null,
  problems: Problems,
): TriggerDefinition[] {
  const text = readBundleFile(file, problems);
  if (text === null) return [];
  const checked = readTriggerDefinitions(text, file, pipelines ? { pipelines: pipelines.keys() } : {});
  problems.errors.push(...checked.errors);
  problems.warnings.push(...checked.warnings);
  return checked.triggers;
}

const isDirectory = (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;

/** One problem instead of one per missing file, when the path is not a directory at all. */
function notABundle(dir: string): TopologyCheckResult {
  const message =
    'no such topology directory (a bundle is a directory holding event_definitions.yaml, triggers.yaml and pipelines.yaml)';
  return {
    dir,
    config: null,
    files: { eventDefinitions: '', triggers: '', pipelines: '' },
    distiller: null,
    triggers: [],
    pipelines: new Map(),
    retries: new Map(),
    knownHandlers: new Map(),
    errors: [{ severity: 'error', file: dir, line: 0, message }],
    warnings: [],
  };
}

/** Problems grouped by file (in the order files were read), by line within a file. */
function byFileAndLine(problems: ConfigProblem[]): ConfigProblem[] {
  const fileOrder = new Map<string, number>();
  for (const p of problems) if (!fileOrder.has(p.file)) fileOrder.set(p.file, fileOrder.size);
  return problems
    .map((problem, index) => ({ problem, index }))
    .sort(
      (a, b) =>
        fileOrder.get(a.problem.file)! - fileOrder.get(b.problem.file)! ||
        a.problem.line - b.problem.line ||
        a.index - b.index,
    )
    .map((entry) => entry.problem);
}

/**
 * Traits the triggers read that no event definition produces (with the right type for time
 * expressions): allowed, since events can come from elsewhere, but usually a typo.
 */
function crossCheck(triggers: TriggerDefinition[], distiller: Distiller): ConfigProblem[] {
  const produced = new Map<string, Set<TraitType>>([
    ['timestamp', new Set(['datetime'])],
    ['message_id', new Set(['text'])],
    ['event_type', new Set(['text'])],
  ]);
  for (const definition of distiller.definitions) {
    for (const trait of definition.traits) {
      if (!produced.has(trait.name)) produced.set(trait.name, new Set());
      produced.get(trait.name)!.add(trait.type);
    }
  }
  const out: ConfigProblem[] = [];
  for (const trigger of triggers) {
    const reported = new Set<string>();
    const check = (name: string, line: number, where: string, needDatetime: boolean) => {
      const types = produced.get(name);
      const key = `${name}|${needDatetime}`;
      if (reported.has(key)) return;
      let message: string | null = null;
      if (!types) message = `${where} reads trait '${name}', which no event definition produces`;
      else if (needDatetime && !types.has('datetime')) {
        message = `${where} needs '${name}' as a datetime, but event definitions make it ${[...types].join(' or ')}`;
      }
      if (message) {
        reported.add(key);
        out.push({ severity: 'warning', file: trigger.file, line, trigger: trigger.name, message });
      }
    };
    for (const spec of trigger.distinguishedBy) {
      for (const criterion of trigger.matchCriteria) {
        const source = criterion.mapDistinguishedBy.get(spec.name) ?? spec.name;
        check(
          source,
          criterion.line,
          `${criterion.label} (distinguished_by ${spec.name})`,
          spec.expression !== null,
        );
      }
    }
    for (const criterion of [...trigger.matchCriteria, ...trigger.fireCriteria]) {
      for (const traitCriterion of criterion.traits)
        check(traitCriterion.trait, criterion.line, criterion.label, false);
      for (const variable of criterion.timestamp?.variables ?? [])
        check(variable, criterion.line, `${criterion.label} timestamp`, true);
      for (const traitCriterion of criterion.traits) {
        if (!(traitCriterion instanceof TimeCriterion)) continue;
        for (const variable of traitCriterion.expression.variables) {
          check(variable, criterion.line, `${criterion.label} trait '${traitCriterion.trait}'`, true);
        }
      }
    }
  }
  return out;
}
