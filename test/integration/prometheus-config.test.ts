import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AddressInfo } from 'node:net';
import yaml from 'js-yaml';
import { buildWatchMetricsServer } from '../../src/watch/metrics-server';
import { WatchMetrics } from '../../src/watch/watch-metrics';
import {
  PROMETHEUS_DIR,
  promtool,
  requirePrometheusTools,
  scrapingLocally,
  shippedPrometheusConfig,
  startPrometheus,
  writePrometheusConfig,
} from '../support/prometheus';

/*
 * The Prometheus files shipped in etc/prometheus, judged by Debian's promtool: the rules load,
 * every alert fires in its unit test (alerts_test.yml) on the series it is meant for, and
 * prometheus.yml is a valid configuration once the metrics token file it names exists; and
 * Debian's prometheus, so configured, sends that token to a /metrics that wants it.
 */

interface RuleFile {
  groups: Array<{ rules: Array<{ alert?: string }> }>;
}
interface RuleTests {
  rule_files: string[];
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
}

const load = <T>(file: string) => yaml.load(readFileSync(join(PROMETHEUS_DIR, file), 'utf8')) as T;

describe('the shipped Prometheus configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'winchester-prometheus-config-'));
  beforeAll(requirePrometheusTools);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('alerts.yml passes promtool check rules', () => {
    const { status, output } = promtool(['check', 'rules', 'alerts.yml']);
    expect({ status, output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  test('every alert fires in alerts_test.yml, and promtool test rules passes', () => {
    const tests = load<RuleTests>('alerts_test.yml');
    expect(tests.rule_files).toEqual(['alerts.yml']);
    const firing = new Set(
      tests.tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((c) => c.exp_alerts?.length).map((c) => c.alertname),
      ),
    );
    const alerts = load<RuleFile>('alerts.yml').groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(alerts.filter((name) => name && !firing.has(name))).toEqual([]);
    const { status, output } = promtool(['test', 'rules', 'alerts_test.yml']);
    expect({ status, output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  test('prometheus.yml passes promtool check config, every job sending a bearer token from a file', () => {
    const raw = load<{ scrape_configs: Array<{ job_name: string; authorization?: object }> }>(
      'prometheus.yml',
    );
    for (const job of raw.scrape_configs) {
      expect(job.authorization).toEqual({
        type: 'Bearer',
        credentials_file: '/run/winchester/metrics-token',
      });
    }
    // promtool insists that the token file exists; the shipped path exists only in the container.
    const tokenFile = join(dir, 'metrics-token');
    writeFileSync(tokenFile, 'secret\n');
    const file = writePrometheusConfig(shippedPrometheusConfig(tokenFile), dir);
    const { status, output } = promtool(['check', 'config', file]);
    expect({ status, output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    expect(output).toContain('rule files found');
  });

  test("Debian's prometheus scrapes a /metrics behind WINCHESTER_METRICS_TOKEN with the file's token", async () => {
    const tokenFile = join(dir, 'scrape-token');
    writeFileSync(tokenFile, 'scrape-secret\n');
    // The watch daemon's metrics server: one wanting the file's token, one wanting another.
    const servers = ['scrape-secret', 'another-secret'].map((metricsToken) =>
      buildWatchMetricsServer({ metrics: new WatchMetrics(), ready: () => true, metricsToken }),
    );
    const [right, wrong] = await Promise.all(
      servers.map(async (app) => {
        await app.listen({ host: '127.0.0.1', port: 0 });
        return `127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      }),
    );
    const config = scrapingLocally(shippedPrometheusConfig(tokenFile), {
      winchester: [right, wrong],
      'winchester-api': [right],
    });
    const prometheus = await startPrometheus(config, join(dir, 'scrape'));
    try {
      const up = async () =>
        Object.fromEntries(
          (await prometheus.query('up')).map((s) => [`${s.metric.job} ${s.metric.instance}`, s.value[1]]),
        );
      const deadline = Date.now() + 30_000;
      while (Object.keys(await up()).length < 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(await up()).toEqual({
        [`winchester ${right}`]: '1',
        [`winchester ${wrong}`]: '0',
        [`winchester-api ${right}`]: '1',
      });
    } finally {
      await prometheus.stop();
      await Promise.all(servers.map((app) => app.close()));
    }
  }, 60_000);
});
