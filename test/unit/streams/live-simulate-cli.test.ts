import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerSimulate } from '../../../src/cli/simulate';
import { loadWinchesterConfig } from '../../../src/config/winchester-config';
import { END_OF_TIME, Simulation, streamSummary } from '../../../src/streams/simulate';
import { loadTopology } from '../../../src/topology/bundle';
import { sampleCorpus } from '../../support/corpus';
import { runInProcess } from '../../support/in-process-cli';

/*
 * `winchester simulate --changes FILE`: version k of the list is applied just before the
 * notification at its index, for the distiller and the triggers alike.
 */

const repo = join(__dirname, '..', '..', '..');
const baseDir = join(repo, 'topologies', 'openstack-usage');
const baseTriggers = readFileSync(join(baseDir, 'triggers.yaml'), 'utf8');
const corpus = sampleCorpus().slice(0, 900);

/** A copy of the openstack-usage bundle whose triggers.yaml is `edit` of the original. */
function bundle(root: string, name: string, edit: (triggers: string) => string): string {
  const dir = join(root, name);
  cpSync(baseDir, dir, { recursive: true });
  writeFileSync(join(dir, 'triggers.yaml'), edit(baseTriggers));
  return dir;
}

const NEW_TRIGGER = `
- name: instance_deletes
  distinguished_by:
    - instance_id
  expiration: "$last + 2h"
  fire_pipeline: usage_missing_exists
  match_criteria:
    - event_type: compute.instance.delete.*
  fire_criteria:
    - event_type: compute.instance.delete.end
`;

let root: string;
let input: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'winchester-live-'));
  input = join(root, 'notifications.jsonl');
  writeFileSync(input, corpus.join('\n') + '\n');
  // Version 1: a longer expiration and a new trigger; version 2: the new trigger removed and
  // the day grouping rewritten (the same days, another distinguished_by).
  bundle(root, 'v1', (t) => t.replace('"$first + 1d 2h"', '"$first + 1d 3h"') + NEW_TRIGGER);
  bundle(root, 'v2', (t) => t.replace('- timestamp: day', '- timestamp: "day + 0h"'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const changesFile = (text: string, name = 'changes.yaml') => {
  const file = join(root, name);
  writeFileSync(file, text);
  return file;
};
const simulate = (...args: string[]) =>
  runInProcess(registerSimulate, ['simulate', '-t', baseDir, '--drain', ...args]);
const streams = (lines: string[]) =>
  lines.filter((l) => l.startsWith('{"kind"')).map((l) => JSON.parse(l) as { trigger_version?: number });

describe('simulate --changes', () => {
  test('applies version k before the notification at its index, as Simulation.changeTriggers does', async () => {
    const file = changesFile('- {at: 300, bundle: v1}\n- at: 600\n  bundle: ./v2\n');
    const run = await simulate('--changes', file, input);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);

    const config = loadWinchesterConfig(undefined, {});
    const versions = [baseDir, join(root, 'v1'), join(root, 'v2')].map((d) => loadTopology(d, config));
    const simulation = new Simulation(versions[0].triggers, 'event');
    let topology = versions[0];
    for (const [index, line] of corpus.entries()) {
      if (index === 300 || index === 600) {
        topology = versions[index === 300 ? 1 : 2];
        await simulation.changeTriggers(topology.triggers);
      }
      const outcome = topology.distill(line);
      if (outcome.kind === 'event') await simulation.push(outcome.event);
    }
    await simulation.advance(END_OF_TIME);
    const expected = simulation.records.map((r) => JSON.stringify(streamSummary(r)));
    expect(run.lines.filter((l) => l.startsWith('{"kind"'))).toEqual(expected);

    // Every version opened streams, and the new trigger only under version 1.
    const printed = streams(run.lines);
    expect(new Set(printed.map((s) => s.trigger_version ?? 0))).toEqual(new Set([0, 1, 2]));
    const deletes = printed.filter((s) => (s as { trigger?: string }).trigger === 'instance_deletes');
    expect(deletes.length).toBeGreaterThan(0);
    expect(new Set(deletes.map((s) => s.trigger_version))).toEqual(new Set([1]));
  });

  test('with --pipelines, a stream runs the pipelines of the version current when it fired', async () => {
    const quiet = join(root, 'quiet');
    cpSync(baseDir, quiet, { recursive: true });
    // The audit pipeline without its usage handler: streams it runs emit no events.
    writeFileSync(join(quiet, 'pipelines.yaml'), 'usage_audit: [logger]\nusage_missing_exists: [logger]\n');
    const newEvents = (lines: string[]) => lines.filter((l) => l.startsWith('{"kind":"new_event"')).length;
    const before = await simulate('--pipelines', input);
    expect(newEvents(before.lines)).toBeGreaterThan(0);
    const file = changesFile('- {at: 0, bundle: quiet}\n', 'quiet.yaml');
    const after = await simulate('--pipelines', '--changes', file, input);
    expect(after.code).toBe(0);
    expect(
      streams(after.lines).filter((s) => (s as { kind?: string }).kind === 'fired').length,
    ).toBeGreaterThan(0);
    expect(newEvents(after.lines)).toBe(0);
  });

  test('without changes the output is as before: no stream names a version', async () => {
    const run = await simulate(input);
    expect(run.code).toBe(0);
    expect(streams(run.lines).filter((s) => s.trigger_version !== undefined)).toEqual([]);
  });
});

describe('simulate --changes mistakes', () => {
  let mistakes = 0;
  test.each([
    ['not a list', 'at: 3\nbundle: v1\n', /changes-\d+\.yaml:1: expected a list of changes/],
    [
      'an unknown key',
      '- {at: 3, bundle: v1}\n- {at: 5, bundel: v2}\n',
      /changes-\d+\.yaml:2: unknown key "bundel"/,
    ],
    [
      'a negative index',
      '- {at: -1, bundle: v1}\n',
      /changes-\d+\.yaml:1: at: expected a notification index/,
    ],
    [
      'an index going back',
      '- {at: 5, bundle: v1}\n- {at: 4, bundle: v2}\n',
      /:2: at 4 comes before the previous change's 5/,
    ],
    ['a bundle that does not load', '- {at: 5, bundle: nowhere}\n', /nowhere/],
  ])('a changes file with %s is one line and exit 2, before any input is read', async (_, text, says) => {
    const file = changesFile(text, `changes-${++mistakes}.yaml`);
    const run = await simulate('--changes', file, join(root, 'no-such-input.jsonl'));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(says);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.lines).toEqual([]);
  });
});
