import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** The repository: benchmarks run from dist/bench (node) or from bench/ (the test suite). */
export const repoRoot = [join(__dirname, '..'), join(__dirname, '..', '..')].find((dir) =>
  existsSync(join(dir, 'topologies', 'openstack-usage')),
)!;

/**
 * A winchester.yaml for role processes a harness starts: etc/winchester.yaml without a
 * metrics port (several roles share the machine), quieter logs, and a session timeout.
 */
export function writeRoleConfig(
  dir: string,
  settings: { sessionTimeoutMs?: number; seenRetentionSeconds?: number } = {},
): string {
  const { sessionTimeoutMs, seenRetentionSeconds } = settings;
  const file = join(dir, 'winchester.yaml');
  let text = readFileSync(join(repoRoot, 'etc', 'winchester.yaml'), 'utf8')
    .replace(/^metrics_port: .*$/m, 'metrics_port: 0')
    .replace(/^log_level: .*$/m, 'log_level: warn');
  if (sessionTimeoutMs)
    text = text.replace(/^ {2}session_timeout_ms: .*$/m, `  session_timeout_ms: ${sessionTimeoutMs}`);
  if (seenRetentionSeconds) {
    text = text.replace(
      /^ {2}seen_retention_seconds: .*$/m,
      `  seen_retention_seconds: ${seenRetentionSeconds}`,
    );
  }
  writeFileSync(file, text);
  return file;
}

/**
 * A benchmark's command line: `--json`, `--name N` options (positive whole numbers) and
 * `--name` switches (true when given) over their defaults. A mistake throws one line naming
 * the options there are.
 */
export function parseCountOptions<T extends { json: boolean }>(
  argv: string[],
  defaults: T,
  flags: Record<string, keyof T>,
  switches: Record<string, keyof T> = {},
): T {
  const options = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') {
      options.json = true;
      continue;
    }
    if (switches[argv[i]]) {
      options[switches[argv[i]]] = true as T[keyof T];
      continue;
    }
    const key = flags[argv[i]];
    if (!key) {
      const names = [...Object.keys(flags), ...Object.keys(switches)].join(', ');
      throw new Error(`unknown option ${argv[i]} (options: ${names}, --json)`);
    }
    const value = Number(argv[++i]);
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new Error(`${argv[i - 1]} needs a positive whole number, got ${argv[i] ?? 'nothing'}`);
    }
    options[key] = value as T[keyof T];
  }
  return options;
}

/** The sample corpus (data/notifications-openstack-26h.jsonl.gz), one notification per line. */
export function corpusLines(): string[] {
  return gunzipSync(readFileSync(join(repoRoot, 'data', 'notifications-openstack-26h.jsonl.gz')))
    .toString('utf8')
    .split('\n')
    .filter(Boolean);
}

/** The corpus `copies` times over, each copy with its own message ids and instances. */
export function corpusCopies(copies: number): string[] {
  const lines = corpusLines();
  const out: string[] = [];
  for (let c = 0; c < copies; c++) {
    for (const line of lines) {
      out.push(c === 0 ? line : line.replace(/("message_id": "|"instance_id": ")/g, `$1c${c}-`));
    }
  }
  return out;
}

export type Notification = Record<string, unknown> & { payload: Record<string, unknown> };

/** The corpus's first notification of `eventType`, to stamp copies from. */
export function corpusNotification(eventType: string): Notification {
  const line = corpusLines().find((l) => l.includes(`"event_type": "${eventType}"`));
  if (!line) throw new Error(`the corpus holds no ${eventType} notification`);
  return JSON.parse(line) as Notification;
}

/** Now as the corpus writes timestamps: `YYYY-MM-DD HH:MM:SS.ffffff` (UTC). */
export const notificationTime = () => `${new Date().toISOString().replace('T', ' ').replace('Z', '')}000`;

/**
 * A series' value in a Prometheus text exposition: the first whose labels include `labels`
 * (`outcome="produced"`), or the first of any labels when none are given; undefined when absent.
 */
export function metricValue(text: string, name: string, labels = ''): number | undefined {
  const escaped = labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const set = labels ? `\\{[^}]*${escaped}[^}]*\\}` : '(?:\\{[^}]*\\})?';
  const found = new RegExp(`^${name}${set} (\\S+)$`, 'm').exec(text);
  return found ? Number(found[1]) : undefined;
}
