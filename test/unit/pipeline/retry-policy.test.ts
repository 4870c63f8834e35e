import { ConfigurationError, formatProblem } from '../../../src/config/errors';
import { parsePipelineDefinitions, parsePipelines, PipelineConfigError } from '../../../src/pipeline/config';
import { builtinHandlers } from '../../../src/pipeline/handlers';
import { readPipelines, UPSTREAM_HANDLER_NAMES } from '../../../src/pipeline/pipelines-file';
import {
  afterFailedRun,
  backoffSeconds,
  cappedErrorText,
  FailedAttempts,
  NO_RETRY,
  RetryPolicy,
  retryPolicyOf,
  streamErrorRecord,
} from '../../../src/pipeline/retry';
import { StreamRecord } from '../../../src/streams/model';
import { parseIso8601 } from '../../../src/time/micros';

const handlers = new Map(Object.entries(builtinHandlers));
const S = 1_000_000;

function failure(text: string): string {
  try {
    parsePipelines(text, 'p.yaml', handlers);
  } catch (error) {
    expect(error).toBeInstanceOf(PipelineConfigError);
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
  throw new Error('the file was accepted');
}

describe('pipelines.yaml: the mapping form with a retry policy', () => {
  test('a plain list keeps meaning no retry', () => {
    const { pipelines, retries } = parsePipelineDefinitions('audit:\n  - logger\n', 'p.yaml', handlers);
    expect(pipelines.get('audit')).toEqual([{ name: 'logger', params: {} }]);
    expect(retries.size).toBe(0);
    expect(retryPolicyOf(retries, 'audit')).toBe(NO_RETRY);
  });

  test('{handlers, retry}: the same steps, and the policy with its durations in seconds', () => {
    const text =
      'plain: [logger]\n' +
      'audit:\n' +
      '  handlers:\n' +
      '    - logger\n' +
      '    - name: usage\n' +
      '      params: {}\n' +
      '  retry: {attempts: 3, backoff: 30s, max_backoff: 10m}\n' +
      'quick:\n' +
      '  handlers: [logger]\n' +
      '  retry: {attempts: 5, backoff: 0.2, max_backoff: 1}\n' +
      'defaults:\n' +
      '  handlers: [logger]\n' +
      '  retry:\n' +
      '    attempts: 2\n' +
      'none:\n' +
      '  handlers: [logger]\n';
    const { pipelines, retries } = parsePipelineDefinitions(text, 'p.yaml', handlers);
    expect(pipelines.get('audit')).toEqual([
      { name: 'logger', params: {} },
      { name: 'usage', params: {} },
    ]);
    expect(Object.fromEntries(retries)).toEqual({
      audit: { attempts: 3, backoffSeconds: 30, maxBackoffSeconds: 600 },
      quick: { attempts: 5, backoffSeconds: 0.2, maxBackoffSeconds: 1 },
      defaults: { attempts: 2, backoffSeconds: 30, maxBackoffSeconds: 600 },
    });
    expect([...pipelines.keys()]).toEqual(['plain', 'audit', 'quick', 'defaults', 'none']);
  });

  test('a long backoff alone raises the default cap to it', () => {
    const { retries } = parsePipelineDefinitions(
      'a:\n  handlers: [logger]\n  retry: {attempts: 2, backoff: 1h}\n',
      'p.yaml',
      handlers,
    );
    expect(retries.get('a')).toEqual({ attempts: 2, backoffSeconds: 3600, maxBackoffSeconds: 3600 });
  });

  test.each([
    [
      'a:\n  handlers: [logger]\n  retry:\n    attempts: 0\n',
      /^p\.yaml:4: pipeline 'a': retry: attempts must be an integer from 1 to 100, found 0$/,
    ],
    [
      'a:\n  handlers: [logger]\n  retry:\n    attempts: 2.5\n',
      /^p\.yaml:4: pipeline 'a': retry: attempts must be/,
    ],
    ['a:\n  handlers: [logger]\n  retry:\n    attempts: "3"\n', /^p\.yaml:4: .*found "3"$/],
    [
      'a:\n  handlers: [logger]\n  retry:\n    backoff: 30s\n',
      /^p\.yaml:3: pipeline 'a': retry: attempts is required/,
    ],
    [
      'a:\n  handlers: [logger]\n  retry:\n    attempts: 3\n    backoff: soon\n',
      /^p\.yaml:5: pipeline 'a': retry: backoff: expected a positive duration such as 7d, 12h, 30m, 3600s or a number of seconds, found "soon"$/,
    ],
    [
      'a:\n  handlers: [logger]\n  retry:\n    attempts: 3\n    backoff: -1\n',
      /^p\.yaml:5: .*backoff: expected a positive duration/,
    ],
    [
      'a:\n  handlers: [logger]\n  retry:\n    attempts: 3\n    backoff: 1m\n    max_backoff: 10s\n',
      /^p\.yaml:6: pipeline 'a': retry: max_backoff \(10s\) is shorter than backoff \(60s\)$/,
    ],
    [
      'a:\n  handlers: [logger]\n  retry: 3\n',
      /^p\.yaml:3: pipeline 'a': retry: expected a mapping \{attempts, backoff, max_backoff\}, found 3$/,
    ],
    [
      'a:\n  retry: {attempts: 3}\n',
      /^p\.yaml:1: pipeline 'a': has no handlers: a pipeline written as a mapping needs/,
    ],
    ['a:\n  handlers: logger\n', /^p\.yaml:2: pipeline 'a': expected a list of handlers, found "logger"$/],
    ['a:\n  handlers:\n    - logger\n    - nosuch\n', /^p\.yaml:4: pipeline 'a': unknown handler 'nosuch'/],
    ['a:\n  handlers:\n    - logger\n    - params: {}\n', /^p\.yaml:4: pipeline 'a': handler 2 has no name/],
  ])('%j fails at start with file and line', (text, expected) => {
    expect(failure(text)).toMatch(expected);
  });

  test('unknown keys of a pipeline or its retry are warnings, not errors', () => {
    const text = 'a:\n  handlers: [logger]\n  retries: {attempts: 3}\n  retry: {attempts: 2, jitter: yes}\n';
    const result = readPipelines(text, 'p.yaml', UPSTREAM_HANDLER_NAMES);
    expect(result.errors).toEqual([]);
    expect(result.warnings.map(formatProblem)).toEqual([
      "p.yaml:3: warning: pipeline 'a': unknown key 'retries' ignored (a pipeline has handlers and retry)",
      "p.yaml:4: warning: pipeline 'a': retry: unknown key 'jitter' ignored",
    ]);
    expect(result.retries.get('a')?.attempts).toBe(2);
  });

  test('the handler lines of the mapping form are those of its handlers list', () => {
    const result = readPipelines(
      'a:\n  retry: {attempts: 2}\n  handlers:\n    - logger\n    - name: usage\n',
      'p.yaml',
      UPSTREAM_HANDLER_NAMES,
    );
    expect(result.pipelines.get('a')?.map((h) => [h.name, h.line])).toEqual([
      ['logger', 4],
      ['usage', 5],
    ]);
  });
});

describe('the back-off schedule', () => {
  const policy: RetryPolicy = { attempts: 10, backoffSeconds: 30, maxBackoffSeconds: 600 };

  test('backoff × 2^(retry−1), capped at max_backoff', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((retry) => backoffSeconds(policy, retry))).toEqual([
      30, 60, 120, 240, 480, 600, 600,
    ]);
  });

  const record = (serial: number): StreamRecord => ({
    stream_id: '0.s',
    partition: 0,
    trigger: 'usage',
    kind: 'fired',
    pipeline: 'audit',
    distinguished_by: {},
    first: 1 * S,
    last: 2 * S,
    expire: 3 * S,
    serial,
    events: [],
  });
  const failedRun = { failedHandler: 'usage', errorMessage: 'boom' };
  const t0 = parseIso8601('2024-05-01T00:00:00.000001Z')!;

  test('attempts: 3 → the first run and two retries, then exhausted', () => {
    const three = { ...policy, attempts: 3 };
    const first = afterFailedRun(record(2), failedRun, { previous: null, policy: three, failedAt: t0 });
    expect(first).toEqual({
      attempts: 1,
      pipeline: 'audit',
      handler: 'usage',
      error: 'boom',
      first_failed_at: t0,
      last_failed_at: t0,
      retry_at: t0 + 30 * S,
      serial: 3,
    });
    const t1 = first.retry_at! + 5;
    const second = afterFailedRun(record(3), failedRun, { previous: first, policy: three, failedAt: t1 });
    expect(second).toMatchObject({ attempts: 2, first_failed_at: t0, retry_at: t1 + 60 * S, serial: 4 });
    const t2 = second.retry_at!;
    const third = afterFailedRun(record(4), failedRun, { previous: second, policy: three, failedAt: t2 });
    expect(third).toMatchObject({
      attempts: 3,
      first_failed_at: t0,
      last_failed_at: t2,
      retry_at: null,
      serial: 5,
    });
  });

  test('attempts of another serial (an operator retried the stream since) are not counted on', () => {
    const stale: FailedAttempts = {
      ...afterFailedRun(record(2), failedRun, { previous: null, policy, failedAt: t0 }),
      attempts: 9,
    };
    const next = afterFailedRun(record(7), failedRun, { previous: stale, policy, failedAt: t0 + S });
    expect(next).toMatchObject({ attempts: 1, first_failed_at: t0 + S });
  });

  test('no policy: the first failure is the last', () => {
    expect(
      afterFailedRun(record(2), failedRun, { previous: null, policy: NO_RETRY, failedAt: t0 }),
    ).toMatchObject({
      attempts: 1,
      retry_at: null,
    });
  });

  test('the streams.errors record: microsecond ISO times, the state of its kind, a capped error', () => {
    const long = `${'x'.repeat(5000)} the reason`;
    const failed = afterFailedRun(
      { ...record(4), kind: 'expired' },
      { failedHandler: 'usage', errorMessage: long },
      { previous: null, policy: NO_RETRY, failedAt: t0 },
    );
    const published = streamErrorRecord({ ...record(4), kind: 'expired' }, failed);
    expect(published).toEqual({
      stream_id: '0.s',
      trigger: 'usage',
      kind: 'expired',
      pipeline: 'audit',
      serial: 5,
      state: 'expire_error',
      handler: 'usage',
      error: cappedErrorText(long),
      attempts: 1,
      first_failed_at: '2024-05-01T00:00:00.000001Z',
      failed_at: '2024-05-01T00:00:00.000001Z',
    });
    expect(published.error.length).toBeLessThanOrEqual(1024);
    expect(published.error.endsWith(' the reason')).toBe(true);
  });
});
