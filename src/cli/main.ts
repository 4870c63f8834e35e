#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { registerSmoke } from './smoke';
import { registerDistill } from './distill';
import { registerTimex } from './timex';
import { registerCheck } from './check';
import { registerApi } from './api';
import { registerRoles } from './roles';
import { registerSimulate } from './simulate';
import { registerStreams } from './streams';
import { registerDev } from './dev';
import { registerClock, registerProduce } from './produce';
import { registerGenerate } from './generate';
import { registerDlq } from './dlq';
import { registerTrace } from './trace';
import { registerConsume } from './consume';
import { registerNamespace } from './namespace';
import { registerArchiver } from './archiver';
import { registerEvents } from './events';
import { registerStore } from './store';
import { registerWatch } from './watch';
import { registerBridge } from './bridge';
import { registerTopology } from './topology';
import { registerTopics } from './topics';
import { reportFor, UsageError } from './errors';
import {
  configureLogging,
  invalidLogLevel,
  LOG_FORMATS,
  LOG_LEVELS,
  LogFormat,
  logger,
} from '../util/logger';
import { exitAfterOutput } from '../util/exit';

const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
  version: string;
};

/** Commander's own messages ("unknown option …") as one line, like every other error. */
function writeCommanderError(text: string, write: (text: string) => void): void {
  const message = text
    .trim()
    .replace(/^error: /, '')
    .replace(/\s*\n\s*/g, ' ');
  write(`winchester: ${message}${/Did you mean/.test(message) ? '' : ' (see --help)'}\n`);
}

export function buildProgram(): Command {
  const program = new Command('winchester')
    .description('Winchester-compatible stream processing of OpenStack notifications on Kafka and Redis')
    .version(version)
    .addOption(
      new Option('--log-format <format>', 'json, or pretty (default on a terminal)').choices(LOG_FORMATS),
    )
    .addOption(new Option('--log-level <level>', 'overrides LOG_LEVEL and log_level').choices(LOG_LEVELS))
    .exitOverride()
    .configureOutput({ outputError: writeCommanderError })
    .hook('preAction', (command) => {
      const { logFormat, logLevel } = command.opts<{ logFormat?: LogFormat; logLevel?: string }>();
      if (invalidLogLevel && !logLevel) {
        throw new UsageError(
          `LOG_LEVEL=${invalidLogLevel} is not a level: use one of ${LOG_LEVELS.join(', ')}`,
        );
      }
      const formatFromEnv = process.env.LOG_FORMAT;
      if (formatFromEnv && !logFormat && !(LOG_FORMATS as readonly string[]).includes(formatFromEnv)) {
        throw new UsageError(`LOG_FORMAT=${formatFromEnv} is not a format: use json or pretty`);
      }
      configureLogging({ format: logFormat, level: logLevel });
    });
  registerSmoke(program);
  registerDistill(program);
  registerTimex(program);
  registerCheck(program);
  registerDev(program);
  registerRoles(program);
  registerArchiver(program);
  registerApi(program);
  registerSimulate(program);
  registerStreams(program);
  registerProduce(program);
  registerClock(program);
  registerGenerate(program);
  registerDlq(program);
  registerTrace(program);
  registerConsume(program);
  registerNamespace(program);
  registerEvents(program);
  registerStore(program);
  registerWatch(program);
  registerBridge(program);
  registerTopology(program);
  registerTopics(program);
  return program;
}

/** Help and --version end the program through exitOverride too, with code 0. */
function isCleanExit(error: unknown): boolean {
  return error instanceof CommanderError && error.exitCode === 0;
}

/** One line on stderr and an exit code; the stack only when LOG_LEVEL=debug asks for it. */
export function reportError(error: unknown): number {
  const report = reportFor(error);
  // Commander has already printed its own message through writeCommanderError.
  if (!(error instanceof CommanderError)) process.stderr.write(`winchester: ${report.message}\n`);
  if (logger.isLevelEnabled('debug') && error instanceof Error && error.stack) {
    process.stderr.write(`${error.stack}\n`);
  }
  return report.exitCode;
}

/** Runs the command line; returns the exit code of a failure, undefined when it went well. */
export async function main(argv: string[]): Promise<number | undefined> {
  try {
    await buildProgram().parseAsync(argv);
    return undefined;
  } catch (error) {
    return isCleanExit(error) ? 0 : reportError(error);
  }
}

if (require.main === module) {
  process.on('uncaughtException', (error) => exitAfterOutput(reportError(error)));
  // A failed command may still hold connections open: exit rather than wait for them.
  void main(process.argv).then((code) => code !== undefined && exitAfterOutput(code));
}
