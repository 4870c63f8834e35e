import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import {
  PROMETHEUS_DIR,
  promtool,
  requirePrometheusTools,
  shippedPrometheusConfig,
  writePrometheusConfig,
} from '../support/prometheus';

/*
 * The Prometheus files shipped in etc/prometheus, judged by Debian's promtool: the rules load,
 * every alert fires in its unit test (alerts_test.yml) on the series it is meant for, and
 * prometheus.yml is a valid configuration once the api token file it names exists.
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

  test('prometheus.yml passes promtool check config, the api job sending a bearer token from a file', () => {
    const raw = load<{ scrape_configs: Array<{ job_name: string; authorization?: object }> }>(
      'prometheus.yml',
    );
    expect(raw.scrape_configs.find((job) => job.job_name === 'winchester-api')?.authorization).toEqual({
      type: 'Bearer',
      credentials_file: expect.stringMatching(/^\//),
    });
    // promtool insists that the token file exists; the shipped path exists only in the container.
    const tokenFile = join(dir, 'api-token');
    writeFileSync(tokenFile, 'secret\n');
    const file = writePrometheusConfig(shippedPrometheusConfig(tokenFile), dir);
    const { status, output } = promtool(['check', 'config', file]);
    expect({ status, output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    expect(output).toContain('rule files found');
  });
});
