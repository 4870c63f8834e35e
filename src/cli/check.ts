import { Command } from 'commander';
import { checkTopology, TopologyCheckOptions, TopologyCheckResult } from '../topology/bundle-check';
import { builtinHandlerMap } from '../pipeline/handlers';
import { formatProblem } from '../config/errors';
import { TriggerDefinition } from '../triggers/definition';

const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

function describeTrigger(trigger: TriggerDefinition): string {
  const grouping = trigger.distinguishedBy.map((d) =>
    d.expression ? `${d.name}: ${d.expression.source}` : d.name,
  );
  const pipelines = [
    trigger.firePipeline ? `fire → ${trigger.firePipeline}` : null,
    trigger.expirePipeline ? `expire → ${trigger.expirePipeline}` : null,
  ].filter(Boolean);
  return (
    `${trigger.name} (line ${trigger.line}): ${plural(trigger.matchCriteria.length, 'match criterion', 'match criteria')}, ` +
    `${plural(trigger.fireCriteria.length, 'fire criterion', 'fire criteria')}; ` +
    `distinguished by ${grouping.length ? grouping.join(', ') : 'nothing (one stream at a time)'}; ` +
    `expires at ${trigger.expiration.source}` +
    (trigger.fireDelaySeconds ? `; fires ${trigger.fireDelaySeconds} s after ready` : '') +
    `; ${pipelines.join(', ')}`
  );
}

/** The lines `winchester check` prints, and its exit code. */
export function checkReport(result: TopologyCheckResult): { lines: string[]; exitCode: number } {
  const lines: string[] = [];
  if (result.errors.length) {
    for (const problem of result.errors) lines.push(formatProblem(problem));
    for (const problem of result.warnings) lines.push(formatProblem(problem));
    lines.push(
      `${result.dir}: ${plural(result.errors.length, 'error')}, ${plural(result.warnings.length, 'warning')}`,
    );
    return { lines, exitCode: 1 };
  }
  lines.push(`${result.dir}: ok`);
  const definitions = result.distiller?.definitions.filter((d) => d.index >= 0).length ?? 0;
  lines.push(`  ${result.files.eventDefinitions}: ${plural(definitions, 'event definition')}`);
  lines.push(`  ${result.files.triggers}: ${plural(result.triggers.length, 'trigger')}`);
  for (const trigger of result.triggers) lines.push(`    ${describeTrigger(trigger)}`);
  const used = new Set([...result.pipelines.values()].flatMap((steps) => steps.map((s) => s.name)));
  lines.push(
    `  ${result.files.pipelines}: ${plural(result.pipelines.size, 'pipeline')}, ` +
      `${plural(used.size, 'handler')} used (${[...used].sort().join(', ') || 'none'})`,
  );
  for (const [name, steps] of result.pipelines) {
    lines.push(`    ${name}: ${steps.map((s) => s.name).join(' → ') || '(no handlers)'}`);
  }
  for (const problem of result.warnings) lines.push(formatProblem(problem));
  return { lines, exitCode: 0 };
}

/** The same as JSON, for tools. */
export function checkReportJson(result: TopologyCheckResult): object {
  return {
    ok: result.errors.length === 0,
    errors: result.errors,
    warnings: result.warnings,
    triggers: result.triggers.map((t) => ({
      name: t.name,
      line: t.line,
      match_criteria: t.matchCriteria.length,
      fire_criteria: t.fireCriteria.length,
      distinguished_by: t.distinguishedBy.map((d) =>
        d.expression ? { [d.name]: d.expression.source } : d.name,
      ),
      expiration: t.expiration.source,
      fire_pipeline: t.firePipeline,
      expire_pipeline: t.expirePipeline,
    })),
    pipelines: Object.fromEntries(
      [...result.pipelines].map(([name, steps]) => [name, steps.map((s) => s.name)]),
    ),
    event_definitions: result.distiller?.definitions.filter((d) => d.index >= 0).length ?? null,
  };
}

export function registerCheck(
  program: Command,
  options: Pick<TopologyCheckOptions, 'knownHandlers'> = {},
): void {
  program
    .command('check')
    .description(
      'load a topology bundle (event_definitions.yaml, triggers.yaml, pipelines.yaml) and print a summary, ' +
        "or every problem as file:line: trigger 'name': message (exit code 1)",
    )
    .argument('<topology-dir>', 'the bundle directory, e.g. topologies/openstack-usage')
    .option('-c, --config <file>', "winchester.yaml (default: the bundle's own, if it has one)")
    .option('--json', 'print the result as JSON')
    .action((dir: string, opts: { config?: string; json?: boolean }) => {
      const result = checkTopology(dir, {
        configFile: opts.config,
        // The built-ins roles start from (loadTopology), so check and roles agree.
        knownHandlers: options.knownHandlers ?? builtinHandlerMap(),
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(checkReportJson(result), null, 2)}\n`);
        process.exitCode = result.errors.length ? 1 : 0;
        return;
      }
      const report = checkReport(result);
      process.stdout.write(`${report.lines.join('\n')}\n`);
      process.exitCode = report.exitCode;
    });
}
