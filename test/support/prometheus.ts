import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { freePort } from '../../src/util/free-port';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { repoRoot } from './stack';

/** The shipped Prometheus configuration and rules. */
export const PROMETHEUS_DIR = join(repoRoot, 'etc', 'prometheus');

/** Fails, saying how to get them, when Debian's promtool or prometheus is missing (no silent skip). */
export function requirePrometheusTools(): void {
  for (const tool of ['promtool', 'prometheus']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is missing: apt-get install prometheus (scripts/bootstrap.sh does)`);
    }
  }
}

/** `promtool <args>`, with `input` on stdin; everything it printed and its exit code. */
export function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { input, encoding: 'utf8', cwd: PROMETHEUS_DIR });
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

export { freePort };

interface ScrapeConfig {
  job_name: string;
  static_configs: Array<{ targets: string[] }>;
  authorization?: { type?: string; credentials_file?: string };
}
export interface PrometheusConfig {
  global: Record<string, string>;
  rule_files: string[];
  scrape_configs: ScrapeConfig[];
}

/** The shipped etc/prometheus/prometheus.yml, its rule files made absolute and its token file replaced. */
export function shippedPrometheusConfig(tokenFile: string): PrometheusConfig {
  const config = yaml.load(readFileSync(join(PROMETHEUS_DIR, 'prometheus.yml'), 'utf8')) as PrometheusConfig;
  config.rule_files = config.rule_files.map((file) => join(PROMETHEUS_DIR, file));
  for (const job of config.scrape_configs) {
    if (job.authorization?.credentials_file) job.authorization.credentials_file = tokenFile;
  }
  return config;
}

/** `config` scraping local targets (every job must be given some), scraped and evaluated every second. */
export function scrapingLocally(
  config: PrometheusConfig,
  targets: Record<string, string[]>,
): PrometheusConfig {
  const jobs = config.scrape_configs.map((job) => {
    const local = targets[job.job_name];
    if (!local) throw new Error(`no local targets for job ${job.job_name} of prometheus.yml`);
    return { ...job, static_configs: [{ targets: local }] };
  });
  const global = { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' };
  return { ...config, global, scrape_configs: jobs };
}

/** Writes `config` where Prometheus and promtool can read it (JSON is YAML). */
export function writePrometheusConfig(config: PrometheusConfig, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export interface PrometheusServer {
  url: string;
  /** An instant query's result vector; throws on a query Prometheus rejects. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** GET an API path (e.g. /api/v1/rules) and return its `data`. */
  api<T>(path: string): Promise<T>;
  stop(): Promise<void>;
  log: string[];
}

/** Starts Debian's prometheus on a free loopback port with `config`, data under `dir`, until it is ready. */
export async function startPrometheus(config: PrometheusConfig, dir: string): Promise<PrometheusServer> {
  const configFile = writePrometheusConfig(config, dir);
  // Another process may take the free port before prometheus binds it: try a few.
  let lastLog = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawnPrometheus(configFile, join(dir, `data-${attempt}`), port);
    const server = prometheusServer(child, `http://127.0.0.1:${port}`);
    if (await becomesReady(server, child)) return server;
    lastLog = server.log.join('');
    await server.stop();
  }
  throw new Error(`prometheus did not start:\n${lastLog.slice(-4000)}`);
}

function spawnPrometheus(configFile: string, dataDir: string, port: number): ChildProcess {
  return spawn(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

function prometheusServer(child: ChildProcess, url: string): PrometheusServer {
  const log: string[] = [];
  const keep = (chunk: Buffer) => {
    log.push(chunk.toString());
    if (log.length > 200) log.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? response.status}`);
    return body.data;
  };
  return {
    url,
    log,
    api,
    query: async (expr) =>
      (await api<{ result: never[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    stop: () => stopChild(child),
  };
}

async function becomesReady(server: PrometheusServer, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline && child.exitCode === null) {
    const ready = await fetch(`${server.url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(timer);
}

interface DashboardPanel {
  title: string;
  targets?: Array<{ expr?: string }>;
  panels?: DashboardPanel[];
}

/** Every panel's PromQL from a Grafana dashboard, with Grafana's variables given values. */
export function dashboardQueries(
  file: string,
  variables: Record<string, string>,
): Array<{ panel: string; expr: string }> {
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { panels: DashboardPanel[] };
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  return panels.flatMap((panel) =>
    (panel.targets ?? [])
      .filter((t) => t.expr)
      .map((t) => ({ panel: panel.title, expr: substitute(t.expr!, variables) })),
  );
}

/** `$name` and `${name}` replaced; a variable left unreplaced is an error (a new one needs a value). */
function substitute(expr: string, variables: Record<string, string>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => {
    const value = variables[(braced ?? bare)!];
    if (value === undefined) throw new Error(`no value for ${whole} in ${expr}`);
    return value;
  });
}
