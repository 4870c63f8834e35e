#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerSmoke } from './smoke';
import { registerDistill } from './distill';
import { registerTimex } from './timex';
import { registerCheck } from './check';
import { registerRoles } from './roles';
import { registerDev } from './dev';
import { registerClock, registerProduce } from './produce';
import { registerGenerate } from './generate';
import { registerDlq } from './dlq';
import { registerTrace } from './trace';
import { ConfigurationError } from '../config/environment';

const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
  version: string;
};

export function buildProgram(): Command {
  const program = new Command('winchester')
    .description('Winchester-compatible stream processing of OpenStack notifications on Kafka and Redis')
    .version(version)
    .showHelpAfterError();
  registerSmoke(program);
  registerDistill(program);
  registerTimex(program);
  registerCheck(program);
  registerDev(program);
  registerRoles(program);
  registerProduce(program);
  registerClock(program);
  registerGenerate(program);
  registerDlq(program);
  registerTrace(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigurationError) {
      process.stderr.write(`winchester: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
}

if (require.main === module) {
  main(process.argv).catch((error: unknown) => {
    process.stderr.write(
      `winchester: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
