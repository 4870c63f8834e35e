import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configureLogging, invalidLogLevel, LOG_LEVELS } from '../../src/util/logger';
import { acquireStack, BenchStack } from './stack';
import { exitAfterOutput } from '../../src/util/exit';

type Main = () => Promise<number | void> | number | void;

/** The stack this run acquired through ensureStack, released when the run ends. */
let stack: BenchStack | undefined;

/**
 * Makes Kafka and Redis available for the rest of the run: the local stack is started when none
 * is running (see acquireStack), and stopped when runBenchmark ends the run. A benchmark calls it
 * after checking its options, so a mistyped option does not wait for a stack to start first.
 */
export function ensureStack(): void {
  stack ??= acquireStack();
}

const debugging = () => ['debug', 'trace'].includes((process.env.LOG_LEVEL ?? '').toLowerCase());

/** One line on stderr, `NAME: message`; the stack trace too when LOG_LEVEL=debug asks for it. */
export function reportFailure(name: string, error: unknown): void {
  const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
  process.stderr.write(`${name}: ${message || 'unexpected error'}\n`);
  if (debugging() && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
}

/**
 * Warnings and errors on stderr. The roles' info lines (a logger handler's line per stream)
 * would bury the figures, so a LOG_LEVEL that asks for them sends every line to a file instead,
 * named on stderr.
 */
function configureBenchLogging(name: string): void {
  const level = process.env.LOG_LEVEL ?? 'warn';
  if (invalidLogLevel)
    throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not ${invalidLogLevel}`);
  if (!['info', 'debug', 'trace'].includes(level.toLowerCase())) {
    configureLogging({ level });
    return;
  }
  const file = join(tmpdir(), `winchester-${name.replace(/\W+/g, '-')}-${process.pid}.log`);
  configureLogging({ level, file, format: 'json' });
  process.stderr.write(`${name}: logs at ${level} go to ${file}\n`);
}

/**
 * Runs a benchmark's main and exits with the code it returns (0 for none). A stack acquired
 * with ensureStack is released however the run ends: returned, failed, or interrupted (Ctrl-C),
 * so a stack started for the run does not outlive it. A failure prints one line and exits 1.
 * The exit is explicit: clients a benchmark leaves connected would keep the process alive.
 */
export function runBenchmark(name: string, main: Main): void {
  let finishing = false;
  const finish = (code: number) => {
    // An interrupt may arrive while the run is already ending: the first ending wins.
    if (finishing) return;
    finishing = true;
    stack?.release();
    exitAfterOutput(code);
  };
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => finish(code));
  }
  Promise.resolve()
    .then(() => configureBenchLogging(name))
    .then(main)
    .then(
      (code) => finish(code ?? 0),
      (error: unknown) => {
        reportFailure(name, error);
        finish(1);
      },
    );
}
