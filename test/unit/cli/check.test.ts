import { join, relative } from 'node:path';
import { Command } from 'commander';
import { registerCheck } from '../../../src/cli/check';

const ROOT = join(__dirname, '..', '..', '..');

/** Runs `winchester check ARGS` in-process from the repository root; returns stdout and the exit code. */
async function check(...args: string[]): Promise<{ lines: string[]; exitCode: number }> {
  const program = new Command('winchester').exitOverride();
  registerCheck(program);
  const written: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  const cwd = process.cwd();
  const previousExitCode = process.exitCode;
  process.exitCode = undefined;
  try {
    process.chdir(ROOT);
    await program.parseAsync(['node', 'winchester', 'check', ...args]);
    return { lines: written.join('').trimEnd().split('\n'), exitCode: Number(process.exitCode ?? 0) };
  } finally {
    process.chdir(cwd);
    process.exitCode = previousExitCode;
    write.mockRestore();
  }
}

describe('winchester check', () => {
  it('prints file, line, trigger and reason for each mistake of a broken bundle, and exits 1', async () => {
    const dir = relative(ROOT, join(ROOT, 'test', 'fixtures', 'broken-topology'));
    const { lines, exitCode } = await check(dir);
    expect(exitCode).toBe(1);
    const f = (name: string) => `${dir}/${name}`;
    expect(lines).toEqual([
      // malformed YAML
      `${f('event_definitions.yaml')}:6: bad indentation of a mapping entry`,
      // unknown handler; handler params that are not a mapping
      `${f('pipelines.yaml')}:3: pipeline 'test_pipeline': unknown handler 'loger' (known: atompub, exec, kafka, logger, notabene, usage, usage_pipeline, zookeeper; add your own under pipeline_handlers in winchester.yaml)`,
      `${f('pipelines.yaml')}:6: pipeline 'test_expire_pipeline': handler 'logger': params must be a mapping, found a list`,
      // a debug level that does not exist
      `${f('triggers.yaml')}:5: trigger 'bad_expressions': debug_level is 0 (off), 1 (counts) or 2 (counts and reasons), found the number 5`,
      // an unknown timex function
      `${f('triggers.yaml')}:8: trigger 'bad_expressions': distinguishing expression for timestamp: unknown function 'dya' (the functions are hour, day, month, year; variables start with $) at column 1 of "dya"`,
      // a bad timex expression
      `${f('triggers.yaml')}:9: trigger 'bad_expressions': expiration: expected a unit (y mo d h m s us, or yr hr min sec) after 1, but found 'hour' at column 11 of "$last + 1 hour"`,
      // a bad numeric criterion, a bad operator, a criterion type that does not exist
      `${f('triggers.yaml')}:15: trigger 'bad_expressions': match_criteria[0] trait 'memory_mb': invalid numeric criterion "lots": 'lots' is not an int`,
      `${f('triggers.yaml')}:17: trigger 'bad_expressions': match_criteria[0] trait 'disk_gb': invalid numeric criterion "=> 20": unknown operator '=>' (did you mean '>='?); the operators are = != > < >= <=`,
      `${f('triggers.yaml')}:19: trigger 'bad_expressions': match_criteria[0] trait 'vcpus': unknown criterion type 'numeric' (use int or float); the types are int, float, datetime, string, text`,
      // a negative count
      `${f('triggers.yaml')}:22: trigger 'bad_expressions': fire_criteria[0]: number is a count of events (an integer ≥ 0), found the number -1`,
      // neither pipeline
      `${f('triggers.yaml')}:23: trigger 'no_pipelines': needs a 'fire_pipeline', an 'expire_pipeline', or both`,
      // a variable expiration cannot have
      `${f('triggers.yaml')}:24: trigger 'no_pipelines': expiration "$finish + 1h" uses $finish, but only $first, $last, $timestamp are defined there`,
      // no match criteria, no fire criteria
      `${f('triggers.yaml')}:29: trigger 'no_criteria': missing 'match_criteria' (a list of criteria)`,
      `${f('triggers.yaml')}:29: trigger 'no_criteria': missing 'fire_criteria' (a list of criteria)`,
      // an unknown pipeline
      `${f('triggers.yaml')}:32: trigger 'no_criteria': expire_pipeline 'missing_pipeline' is not defined in the pipelines file (defined: test_expire_pipeline, test_pipeline)`,
      // a distinguishing mapping with two keys
      `${f('triggers.yaml')}:35: trigger 'no_criteria': a distinguishing expression maps one trait to a time expression (e.g. timestamp: day), found 2 keys`,
      // the same name twice
      `${f('triggers.yaml')}:36: trigger 'bad_expressions': a trigger of this name is already defined at line 4`,
      `${f('triggers.yaml')}:31: warning: trigger 'no_criteria': unknown key 'fire_pipline' ignored (did you mean fire_pipeline?)`,
      `${dir}: 17 errors, 1 warning`,
    ]);
  });

  it("summarises upstream's sample bundle, with its warnings", async () => {
    const { lines, exitCode } = await check('topologies/example');
    expect(exitCode).toBe(0);
    expect(lines.slice(0, 8)).toEqual([
      'topologies/example: ok',
      '  topologies/example/event_definitions.yaml: 2 event definitions',
      '  topologies/example/triggers.yaml: 1 trigger',
      '    test_trigger (line 2): 2 match criteria, 1 fire criterion; distinguished by instance_id, timestamp: day; expires at $last + 1h; fire → test_pipeline, expire → test_expire_pipeline',
      '  topologies/example/pipelines.yaml: 2 pipelines, 1 handler used (logger)',
      '    test_pipeline: logger',
      '    test_expire_pipeline: logger',
      'topologies/example/winchester.yaml:3: warning: config_path has no effect here (state is in Redis, logs are JSON lines)',
    ]);
    expect(lines).toContain(
      "topologies/example/triggers.yaml:20: warning: trigger 'test_trigger': match_criteria[1]: map_distingushed_by is a misspelling of map_distinguished_by; honoured (upstream ignored it, so streams differ from upstream's)",
    );
  });

  it('passes the openstack-usage bundle', async () => {
    const { lines, exitCode } = await check('topologies/openstack-usage');
    expect(exitCode).toBe(0);
    expect(lines[0]).toBe('topologies/openstack-usage: ok');
    expect(lines).toContain('    usage_audit: logger → usage');
  });

  it('reports a missing file of the bundle, and speaks JSON when asked', async () => {
    const { lines, exitCode } = await check('test/fixtures', '--json');
    expect(exitCode).toBe(1);
    const report = JSON.parse(lines.join('\n')) as {
      ok: boolean;
      errors: Array<{ file: string; message: string }>;
    };
    expect(report.ok).toBe(false);
    expect(report.errors.map((e) => [e.file, e.message])).toEqual([
      ['test/fixtures/event_definitions.yaml', 'missing from the topology bundle'],
      ['test/fixtures/pipelines.yaml', 'missing from the topology bundle'],
      ['test/fixtures/triggers.yaml', 'missing from the topology bundle'],
    ]);
  });
});
