import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { Kafka } from 'kafkajs';
import { WinchesterConfig } from '../config/winchester-config';
import { loadTopology } from '../topology/bundle';
import {
  BundleVersion,
  bundleDigest,
  bundleFileNames,
  materialize,
  readBundleFiles,
} from '../topology/versions/bundle-record';
import { HEARTBEAT_MS, InstanceStatus, instancesTopic } from '../topology/versions/instances';
import {
  appendVersion,
  ensureTopologyTopic,
  makeCurrent,
  readToEnd,
  readVersionState,
  VersionState,
} from '../topology/versions/version-log';
import { parseIso8601 } from '../time/micros';
import { CommandFailure, UsageError } from './errors';
import { opsSetup, OpsOptions, positiveInt, withConfigOptions } from './ops-options';

interface ApplyOptions extends OpsOptions {
  version?: string;
  bundle?: string;
}

/** `winchester topology apply|list|status|export`: versioned bundles the running roles follow. */
export function registerTopology(program: Command): void {
  const topology = program
    .command('topology')
    .description('versions of the topology bundle, applied live to every running role (docs/operations.md)');
  withConfigOptions(topology.command('apply'))
    .description('check a bundle and make it the version every role runs (or roll back to --version N)')
    .option('-t, --topology <dir>', 'the bundle directory to apply')
    .option('--bundle <file>', "a bundle document (as `topology export` prints it; '-' for stdin) to apply")
    .option('--version <n>', 'make an earlier version current again')
    .action((opts: ApplyOptions) => apply(opts));
  withConfigOptions(topology.command('list'))
    .description('every version applied, the current one marked')
    .action(async (opts: OpsOptions) => {
      const { connected } = await versionsSetup(opts);
      const state = await readVersionState(connected.kafka, connected.settings.namespace);
      if (state.versions.size === 0)
        process.stdout.write('no version applied: roles run their own -t bundle\n');
      for (const bundle of [...state.versions.values()].sort((a, b) => a.version - b.version)) {
        const mark = bundle.version === state.current?.version ? '*' : ' ';
        process.stdout.write(
          `${mark} ${bundle.version}\t${bundle.created}\t${bundle.sha256.slice(0, 12)}\t${bundle.source}\n`,
        );
      }
    });
  withConfigOptions(topology.command('status'))
    .description('the current version, and the version each running role instance runs')
    .action((opts: OpsOptions) => status(opts));
  withConfigOptions(topology.command('export'))
    .description('print a version as a bundle document (JSON), for `apply --bundle` or a ZooKeeper znode')
    .option('--version <n>', 'which version (default: the current one)')
    .action(async (opts: OpsOptions & { version?: string }) => {
      const { connected } = await versionsSetup(opts);
      const state = await readVersionState(connected.kafka, connected.settings.namespace);
      const version = positiveInt('--version', opts.version) ?? state.current?.version;
      const bundle = version === undefined ? undefined : state.versions.get(version);
      if (!bundle)
        throw new CommandFailure(`no version ${version ?? '(none applied)'} in the topology topic`);
      process.stdout.write(`${JSON.stringify({ version: bundle.version, files: bundle.files }, null, 2)}\n`);
    });
}

async function versionsSetup(opts: OpsOptions) {
  const setup = await opsSetup(opts);
  const admin = setup.connected.kafka.admin();
  await admin.connect();
  await ensureTopologyTopic(admin, setup.connected.settings);
  await admin.disconnect();
  return setup;
}

async function apply(opts: ApplyOptions): Promise<void> {
  const sources = [opts.topology, opts.bundle, opts.version].filter((v) => v !== undefined);
  if (sources.length !== 1) throw new UsageError('give one of -t DIR, --bundle FILE or --version N');
  const rollback = positiveInt('--version', opts.version);
  const { config, connected } = await versionsSetup(opts);
  const { kafka, settings } = connected;
  const state = await readVersionState(kafka, settings.namespace);
  if (rollback !== undefined) return rollBack(kafka, settings.namespace, state, rollback, config);
  const candidate = opts.topology
    ? { files: readBundleFiles(opts.topology, config), source: opts.topology }
    : {
        files: readBundleDocument(opts.bundle!, config),
        source: opts.bundle === '-' ? 'stdin' : opts.bundle!,
      };
  // The checks a role runs at start: a bundle refused here is refused by every role.
  loadTopology(materialize(draft(candidate.files), settings.namespace), config);
  const current = state.current && state.versions.get(state.current.version);
  if (current && current.sha256 === bundleDigest(candidate.files)) {
    process.stdout.write(`version ${current.version} is current and has the same files: nothing applied\n`);
    return;
  }
  const applied = await appendVersion(kafka, settings.namespace, state, candidate);
  process.stdout.write(
    `version ${applied.version} applied (sha256 ${applied.sha256.slice(0, 12)}); ` +
      'running roles switch within seconds: winchester topology status\n',
  );
}

async function rollBack(
  kafka: Kafka,
  namespace: string,
  state: VersionState,
  version: number,
  config: WinchesterConfig,
): Promise<void> {
  const bundle = state.versions.get(version);
  if (!bundle) throw new CommandFailure(`there is no version ${version} (winchester topology list)`);
  if (state.current?.version === version) {
    process.stdout.write(`version ${version} is already current\n`);
    return;
  }
  // This configuration may load plugins or handlers the version's files no longer match.
  loadTopology(materialize(bundle, namespace), config);
  await makeCurrent(kafka, namespace, version);
  process.stdout.write(`version ${version} is current again (was ${state.current?.version ?? 0})\n`);
}

/** A version-shaped record around files not yet applied, to load them the way a role would. */
const draft = (files: Record<string, string>): BundleVersion => ({
  version: 0,
  created: '',
  source: '',
  files,
  sha256: '',
});

/**
 * A bundle document: `{"files": {name: text}}` (what `topology export` prints) or the files'
 * mapping itself, JSON or YAML-free JSON only, naming exactly the bundle's three files.
 */
function readBundleDocument(path: string, config: WinchesterConfig): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new CommandFailure(`cannot read ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path}: not a bundle document (JSON): ${(error as Error).message}`);
  }
  const doc = parsed as { files?: unknown };
  const files = (doc && typeof doc === 'object' && 'files' in doc ? doc.files : parsed) as Record<
    string,
    unknown
  >;
  const names = bundleFileNames(config);
  if (!files || typeof files !== 'object' || names.some((name) => typeof files[name] !== 'string')) {
    throw new UsageError(`${path}: a bundle document maps each of ${names.join(', ')} to its text`);
  }
  return Object.fromEntries(names.map((name) => [name, files[name] as string]));
}

async function status(opts: OpsOptions): Promise<void> {
  const { connected } = await versionsSetup(opts);
  const { kafka, settings } = connected;
  const state = await readVersionState(kafka, settings.namespace);
  const instances = new Map<string, InstanceStatus | null>();
  await readToEnd(kafka, settings.namespace, instancesTopic(settings.namespace), (message) => {
    const key = message.key?.toString() ?? '';
    instances.set(key, message.value ? (JSON.parse(message.value.toString()) as InstanceStatus) : null);
  });
  const current = state.current?.version ?? 0;
  process.stdout.write(
    current
      ? `current version: ${current}\n`
      : 'current version: none applied (roles run their own -t bundle)\n',
  );
  const now = Date.now() * 1000;
  for (const instance of [...instances.values()].filter((i): i is InstanceStatus => i !== null)) {
    const age = (now - (parseIso8601(instance.seen) ?? 0)) / 1e6;
    const gone = age > (3 * HEARTBEAT_MS) / 1000;
    const health = gone
      ? `gone (last seen ${Math.round(age)} s ago)`
      : instance.error
        ? `error: ${instance.error}`
        : instance.version === current
          ? 'ok'
          : `switching to ${current}`;
    process.stdout.write(`${instance.role}\t${instance.instance}\tversion ${instance.version}\t${health}\n`);
  }
}
