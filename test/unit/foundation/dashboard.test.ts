import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { WinchesterMetrics } from '../../../src/metrics/metrics';

/*
 * The Grafana dashboard and its provisioning: the JSON parses, every PromQL expression names
 * metrics the roles export (src/metrics/metrics.ts, default process metrics included) and
 * only labels those metrics carry, and the datasource it points at is the provisioned one.
 */
const repo = join(__dirname, '..', '..', '..');
const grafana = join(repo, 'etc', 'grafana');

interface Target {
  expr?: string;
  datasource?: { uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: Target[];
  panels?: Panel[];
}

const dashboard = JSON.parse(readFileSync(join(grafana, 'dashboards', 'winchester.json'), 'utf8')) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; query: string | { query: string } }> };
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const expressions = [
  ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr ?? '' }))),
  ...dashboard.templating.list.map((v) => ({
    where: `$${v.name}`,
    expr: typeof v.query === 'string' ? v.query : v.query.query,
  })),
];

/** Exported metric name → its labels (`role` on all, `le` on histogram buckets). */
async function exported(): Promise<Map<string, Set<string>>> {
  const metrics = new WinchesterMetrics('test');
  const names = new Map<string, Set<string>>();
  // `labelNames` is what each metric was declared with; prom-client keeps it on the object.
  const declared = new Map(
    metrics.registry
      .getMetricsAsArray()
      .map((m) => [m.name, (m as unknown as { labelNames?: string[] }).labelNames ?? []]),
  );
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    // role is every sample's default label; instance and job are what Prometheus adds.
    const labels = new Set(['role', 'instance', 'job', ...(declared.get(metric.name) ?? [])]);
    for (const value of metric.values) for (const label of Object.keys(value.labels)) labels.add(label);
    const forms =
      metric.type.toString() === 'histogram'
        ? ['_bucket', '_sum', '_count'].map((s) => metric.name + s)
        : [metric.name];
    for (const name of forms)
      names.set(name, new Set([...labels, ...(name.endsWith('_bucket') ? ['le'] : [])]));
  }
  return names;
}

describe('Grafana dashboard', () => {
  let metrics: Map<string, Set<string>>;
  beforeAll(async () => {
    metrics = await exported();
  });

  test('parses, with unique panel ids and the sections operators look for', () => {
    expect(dashboard.uid).toBe('winchester');
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const titles = panels.map((p) => p.title).join('\n');
    for (const wanted of [
      /Throughput per role/,
      /DLQ .*reason/,
      /Streams by state and trigger/,
      /Active streams/,
      /Timer lag/,
      /Handler latency p50 \/ p99/,
      /Pipeline latency p50 \/ p99/,
      /Consumer lag/,
      /Redis round trip/,
    ]) {
      expect(titles).toMatch(wanted);
    }
  });

  test('every expression names only exported metrics', () => {
    expect(expressions.length).toBeGreaterThan(20);
    const unknown: string[] = [];
    for (const { where, expr } of expressions) {
      const names = expr.match(/\b(?:winchester|process|nodejs)_[a-z0-9_]+/g) ?? [];
      if (names.length === 0) unknown.push(`${where}: no known metric in ${expr}`);
      for (const name of names) if (!metrics.has(name)) unknown.push(`${where}: ${name}`);
    }
    expect(unknown).toEqual([]);
  });

  test('every label an expression selects or groups by is one its metrics carry', () => {
    const wrong: string[] = [];
    for (const { where, expr } of expressions) {
      const names = expr.match(/\b(?:winchester|process|nodejs)_[a-z0-9_]+/g) ?? [];
      const carried = new Set(names.flatMap((n) => [...(metrics.get(n) ?? [])]));
      const selected = [...expr.matchAll(/\b(?:winchester|process|nodejs)_[a-z0-9_]+\{([^}]*)\}/g)].flatMap(
        (m) => [...m[1].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map((l) => l[1]),
      );
      const grouped = [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) =>
        m[1].split(',').map((l) => l.trim()),
      );
      const templated = [...expr.matchAll(/label_values\([^,]+,\s*([a-zA-Z_]+)\)/g)].map((m) => m[1]);
      for (const label of [...selected, ...grouped, ...templated]) {
        if (!carried.has(label)) wrong.push(`${where}: ${label} in ${expr}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('panels use the provisioned Prometheus datasource, and the provider loads the dashboard folder', () => {
    const provisioned = yaml.load(
      readFileSync(join(grafana, 'provisioning', 'datasources', 'prometheus.yaml'), 'utf8'),
    ) as { datasources: Array<{ uid: string; type: string; url: string }> };
    const [source] = provisioned.datasources;
    expect(source.type).toBe('prometheus');
    for (const p of panels.filter((p) => p.type !== 'row')) {
      expect([p.title, p.datasource?.uid]).toEqual([p.title, source.uid]);
      for (const t of p.targets ?? []) expect(t.datasource?.uid).toBe(source.uid);
    }
    const providers = readdirSync(join(grafana, 'provisioning', 'dashboards')).map(
      (f) =>
        yaml.load(readFileSync(join(grafana, 'provisioning', 'dashboards', f), 'utf8')) as {
          providers: Array<{ type: string; options: { path: string } }>;
        },
    );
    expect(providers.flatMap((p) => p.providers.map((d) => d.options.path))).toContain(
      '/var/lib/grafana/dashboards',
    );
  });

  test('Prometheus scrapes each role on the port it serves /metrics on', () => {
    const prometheus = yaml.load(readFileSync(join(repo, 'etc', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = prometheus.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    const compose = yaml.load(readFileSync(join(repo, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { command?: string[]; volumes?: string[] }>;
    };
    const config = yaml.load(readFileSync(join(repo, 'etc', 'winchester.yaml'), 'utf8')) as {
      metrics_port: number;
    };
    for (const role of ['distiller', 'matcher', 'worker']) {
      expect(compose.services[role].command?.[0]).toBe(role);
      expect(targets).toContain(`${role}:${config.metrics_port}`);
    }
    const api = compose.services.api.command ?? [];
    const apiPort = api.includes('--port') ? api[api.indexOf('--port') + 1] : '8080';
    expect(targets).toContain(`api:${apiPort}`);
    expect(compose.services.grafana.volumes).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\.\/etc\/grafana\/provisioning:/)]),
    );
  });
});
