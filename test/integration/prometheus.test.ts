import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, Kafka } from 'kafkajs';
import { notificationKey } from '../../src/topology/records';
import { END_OF_TIME } from '../../src/streams/simulate';
import { TopologySettings } from '../../src/config/topology-settings';
import { sampleCorpus } from '../support/corpus';
import { testNamespace } from '../support/namespace';
import { eventClockRoleEnv, groupLag, requireBuild, startRole, stopRole } from '../support/processes';
import {
  dashboardQueries,
  freePort,
  PrometheusServer,
  promtool,
  requirePrometheusTools,
  scrapingLocally,
  shippedPrometheusConfig,
  startPrometheus,
} from '../support/prometheus';
import { repoRoot } from '../support/stack';
import { advanceClock, produce, topologyFixture, waitFor } from '../support/topology-harness';

/*
 * The roles as operators run them (CLI processes on the real Kafka and Redis, the api role
 * with a bearer token), seen the way Prometheus sees them: every role's /metrics passes
 * `promtool check metrics` before and after traffic, with the series a topology makes known
 * at 0 from the start; and a real Prometheus, configured by the shipped prometheus.yml and
 * alerts.yml, scrapes them all and answers the Grafana dashboard's queries with data.
 */

const ns = testNamespace();
// Generous deadlines for a loaded machine: the waits poll and end as soon as data is there.
const START_DEADLINE_MS = 180000;
const REPLAY_DEADLINE_MS = 300000;
const topologyDir = join(repoRoot, 'topologies', 'openstack-usage');
const TRIGGER = 'nova_usage_audit';
const HANDLERS = ['logger', 'usage'];
const token = randomBytes(16).toString('hex');
const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };

type Role = 'distiller' | 'matcher' | 'worker' | 'api';
const ROLES: Role[] = ['distiller', 'matcher', 'worker', 'api'];

/** A series's labels from one exposition line, `role` (every sample has it) left out. */
function seriesOf(text: string, name: string): Array<Record<string, string>> {
  const lines = text.split('\n').filter((line) => line.startsWith(`${name}{`));
  return lines.map((line) => {
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    delete labels.role;
    return { ...labels, value: line.slice(line.lastIndexOf(' ') + 1) };
  });
}

type RoleProcess = ReturnType<typeof startRole>;

/** Every role as a CLI process serving /metrics on a free port, the api role's behind a metrics token. */
async function startRoles(
  env: NodeJS.ProcessEnv,
): Promise<{ processes: RoleProcess[]; urls: Record<Role, string> }> {
  const processes: RoleProcess[] = [];
  const urls = {} as Record<Role, string>;
  for (const role of ROLES) {
    const port = await freePort();
    const args =
      role === 'api'
        ? ['-t', topologyDir, '--port', String(port), '--token', token, '--metrics-token', token]
        : ['-t', topologyDir, '--metrics-port', String(port)];
    processes.push(startRole(role, args, env));
    urls[role] = `http://127.0.0.1:${port}/metrics`;
  }
  return { processes, urls };
}

/** `/metrics` of a role, with the token the api role wants. */
async function scrapeRole(url: string, role: Role): Promise<string> {
  const headers: Record<string, string> = role === 'api' ? { authorization: `Bearer ${token}` } : {};
  const response = await fetch(url, { headers });
  if (response.status !== 200) throw new Error(`${role} /metrics: HTTP ${response.status}`);
  return response.text();
}

describe('every role seen by promtool and by a real Prometheus', () => {
  let processes: RoleProcess[] = [];
  let urls = {} as Record<Role, string>;
  const dir = mkdtempSync(join(tmpdir(), 'winchester-prometheus-'));
  let prometheus: PrometheusServer | undefined;
  let kafka: Kafka;
  let settings: TopologySettings;
  let admin: Admin | undefined;

  const scrape = (role: Role) => scrapeRole(urls[role], role);
  const promtoolComplaints = async () => {
    const complaints: Record<string, string> = {};
    for (const role of ROLES) {
      const { status, output } = promtool(['check', 'metrics'], await scrape(role));
      if (status !== 0 || output) complaints[role] = output || `exit ${status}`;
    }
    return complaints;
  };
  const allServing = async () => {
    const exited = processes.find((p) => p.exitCode !== null);
    if (exited) throw new Error(`a role exited at start:\n${exited.log.join('')}`);
    const serving = await Promise.all(ROLES.map((role) => scrape(role).then(Boolean, () => false)));
    return serving.every(Boolean);
  };

  beforeAll(async () => {
    requireBuild();
    requirePrometheusTools();
    ({ kafka, settings } = await topologyFixture(ns, { clock: 'event' }));
    admin = kafka.admin();
    await admin.connect();
    ({ processes, urls } = await startRoles(eventClockRoleEnv(ns)));
    await waitFor(allServing, START_DEADLINE_MS / 2);

    const tokenFile = join(dir, 'api-token');
    writeFileSync(tokenFile, `${token}\n`);
    const host = (role: Role) => new URL(urls[role]).host;
    const config = scrapingLocally(shippedPrometheusConfig(tokenFile), {
      winchester: [host('distiller'), host('matcher'), host('worker')],
      'winchester-api': [host('api')],
    });
    prometheus = await startPrometheus(config, join(dir, 'prometheus'));
  }, START_DEADLINE_MS);

  afterAll(async () => {
    await prometheus?.stop();
    for (const p of processes) await stopRole(p);
    await admin?.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  test("before any traffic: promtool accepts every role's /metrics, and known label values read 0", async () => {
    expect(await promtoolComplaints()).toEqual({});
    const [distiller, matcher, worker, api] = await Promise.all(ROLES.map(scrape));
    const zero = (labels: Record<string, string>) => ({ ...labels, value: '0' });
    expect(seriesOf(worker, 'winchester_streams_errored_total')).toEqual([zero({ trigger: TRIGGER })]);
    expect(seriesOf(worker, 'winchester_streams_completed_total')).toEqual([zero({ trigger: TRIGGER })]);
    expect(seriesOf(worker, 'winchester_handler_commit_failures_total')).toEqual(
      HANDLERS.map((handler) => zero({ handler })),
    );
    expect(seriesOf(matcher, 'winchester_streams_fired_total')).toEqual([zero({ trigger: TRIGGER })]);
    expect(seriesOf(matcher, 'winchester_trigger_criteria_checks_total')).toEqual(
      ['Match', 'Fire'].map((group) => zero({ trigger: TRIGGER, group })),
    );
    expect(seriesOf(distiller, 'winchester_dlq_records_total')).toContainEqual(
      zero({ topic: settings.topics.notificationsDlq, reason: 'invalid-json' }),
    );
    // Each role has the series of what it counts, not of what the others do.
    expect(seriesOf(distiller, 'winchester_streams_errored_total')).toEqual([]);
    expect(seriesOf(api, 'winchester_dlq_records_total')).toEqual([]);

    for (const text of [distiller, matcher, worker, api]) {
      expect(seriesOf(text, 'winchester_build_info')).toEqual([
        { version, revision: expect.stringMatching(/\S/), node_version: process.version, value: '1' },
      ]);
      // Node's own metrics under their standard names, and no gauge named like a counter.
      expect(text).toMatch(/^process_cpu_seconds_total\{/m);
      expect(text).toMatch(/^nodejs_eventloop_lag_seconds\{/m);
      expect(text).not.toMatch(/^winchester_(process|nodejs)_/m);
      expect(text).not.toMatch(/^# TYPE \S+_total (gauge|histogram|summary)/m);
    }
  });

  test('the api role given a metrics token wants it on /metrics', async () => {
    expect((await fetch(urls.api)).status).toBe(401);
    expect((await fetch(urls.api, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(urls.api, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  test(
    "Prometheus scrapes every role with the shipped configuration, and the dashboard's queries return data",
    async () => {
      const server = prometheus!;
      await replayAndDrain(kafka, settings, admin!);

      const queries = mainDashboardQueries();
      expect(queries.length).toBeGreaterThan(30);
      let empty: string[] = [];
      const answered = async () => (empty = await unanswered(server, queries)).length === 0;
      await waitFor(answered, 90000).catch(() => undefined);
      expect(empty).toEqual([]);

      // Every target is up, the api one through the token file.
      const up = await server.query('up');
      expect(up.map((s) => `${s.metric.job} ${s.value[1]}`).sort()).toEqual([
        'winchester 1',
        'winchester 1',
        'winchester 1',
        'winchester-api 1',
      ]);
      // Consumer lag is per group, topic and partition.
      const lag = await server.query('winchester_consumer_lag');
      expect(new Set(lag.map((s) => s.metric.group))).toEqual(
        new Set(['distiller', 'matcher', 'worker'].map((role) => `${ns.prefix}.${role}`)),
      );
      for (const s of lag)
        expect(Object.keys(s.metric)).toEqual(expect.arrayContaining(['topic', 'partition']));
      // The template variable's values.
      const triggers = await server.api<string[]>(
        `/api/v1/label/trigger/values?match[]=winchester_trigger_events_matched_total`,
      );
      expect(triggers).toEqual([TRIGGER]);
      // The shipped rules evaluate without errors on real series.
      let rules: PrometheusRule[] = [];
      const evaluated = async () => (rules = await ruleStates(server)).every((r) => r.health !== 'unknown');
      await waitFor(evaluated, 30000).catch(() => undefined);
      expect(rules.length).toBeGreaterThan(5);
      expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
      // A clean replay alarms nobody.
      const { alerts } = await server.api<{ alerts: Array<{ labels: { alertname: string } }> }>(
        '/api/v1/alerts',
      );
      expect(alerts.map((a) => a.labels)).toEqual([]);
    },
    REPLAY_DEADLINE_MS,
  );

  test("after traffic (histograms observed, lag tracked): promtool still accepts every role's /metrics", async () => {
    expect(await promtoolComplaints()).toEqual({});
  });
});

/**
 * The dashboard's queries, but for the debugging panel of debug_level 2 (mismatch reasons,
 * named debugger counts such as expiration errors): openstack-usage runs at debug_level 1.
 */
function mainDashboardQueries(): Array<{ panel: string; expr: string }> {
  const file = join(repoRoot, 'etc', 'grafana', 'dashboards', 'winchester.json');
  const queries = dashboardQueries(file, { __rate_interval: '30s', trigger: '.*' });
  return queries.filter((q) => q.panel !== 'Mismatch reasons (top 10)');
}

/** The queries whose answer is empty, as "panel: expr". */
async function unanswered(server: PrometheusServer, queries: Array<{ panel: string; expr: string }>) {
  const empty: string[] = [];
  for (const { panel, expr } of queries)
    if ((await server.query(expr)).length === 0) empty.push(`${panel}: ${expr}`);
  return empty;
}

interface PrometheusRule {
  name: string;
  health: string;
  lastError?: string;
}

async function ruleStates(server: PrometheusServer): Promise<PrometheusRule[]> {
  const { groups } = await server.api<{ groups: Array<{ rules: PrometheusRule[] }> }>('/api/v1/rules');
  return groups.flatMap((g) => g.rules);
}

/** Part of the sample day through every role, then the event clock past its end so every stream's pipeline runs. */
async function replayAndDrain(kafka: Kafka, settings: TopologySettings, admin: Admin): Promise<void> {
  const corpus = sampleCorpus().slice(0, 1500);
  await produce(
    kafka,
    settings.inputTopics[0],
    corpus.map((line) => ({ key: notificationKey(line), value: line })),
  );
  const drained = async () =>
    (await groupLag(admin, `${settings.namespace}.distiller`, settings.inputTopics)) === 0 &&
    (await groupLag(admin, `${settings.namespace}.matcher`, [settings.topics.events])) === 0;
  await waitFor(drained, 120000);
  await advanceClock(kafka, settings, END_OF_TIME);
}
