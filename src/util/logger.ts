import pino from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

interface Writer {
  write(line: string): unknown;
  flushSync?(): void;
}

/**
 * Where log lines go, switchable after the loggers exist: modules hold `logger` (and its
 * children) from import time, and only the command line decides format and destination.
 */
class SwitchableDestination {
  constructor(public target: Writer) {}
  write(line: string): void {
    this.target.write(line);
  }
}

// Synchronous: a process that exits right after logging (a failed start) keeps its lines.
/** LOG_LEVEL as given, when pino knows it; a wrong value must not crash every command at import. */
const levelFromEnv = (LOG_LEVELS as readonly string[]).includes(process.env.LOG_LEVEL ?? '')
  ? process.env.LOG_LEVEL
  : undefined;

/** A LOG_LEVEL pino does not know, for the command line to report as a mistake. */
export const invalidLogLevel = process.env.LOG_LEVEL && !levelFromEnv ? process.env.LOG_LEVEL : undefined;

const destination = new SwitchableDestination(pino.destination({ fd: 2, sync: true }));
const linesByLevel = new Map<number, number>();

/** Logs on stderr, so stdout stays free for command output: JSON lines, or pretty on a terminal. */
export const logger = pino(
  {
    level: levelFromEnv ?? 'info',
    base: { pid: process.pid },
    hooks: {
      logMethod(args, method, level) {
        linesByLevel.set(level, (linesByLevel.get(level) ?? 0) + 1);
        method.apply(this, args);
      },
    },
  },
  destination,
);

export type Logger = pino.Logger;

export interface LoggingOptions {
  format?: LogFormat;
  /** Overrides LOG_LEVEL, which overrides a config file's log_level. */
  level?: string;
  /** Write here instead of stderr (appending). */
  file?: string;
}

let levelFixed = Boolean(levelFromEnv);

function writerFor(format: LogFormat, file: string | undefined): Writer {
  if (format === 'json') {
    return pino.destination(
      file ? { dest: file, sync: true, mkdir: true, append: true } : { fd: 2, sync: true },
    );
  }
  return pretty({
    destination: file ? pino.destination({ dest: file, sync: true, mkdir: true, append: true }) : 2,
    colorize: !file && process.stderr.isTTY,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,role',
    messageFormat: '{if role}{role}: {end}{msg}',
    singleLine: true,
  });
}

/** The format when none is asked for: pretty for a person at a terminal, JSON for machines. */
export function defaultLogFormat(file?: string): LogFormat {
  const fromEnv = process.env.LOG_FORMAT;
  if (fromEnv === 'json' || fromEnv === 'pretty') return fromEnv;
  return file || process.stderr.isTTY ? 'pretty' : 'json';
}

export function configureLogging(options: LoggingOptions): void {
  const format = options.format ?? defaultLogFormat(options.file);
  destination.target.flushSync?.();
  destination.target = writerFor(format, options.file);
  if (options.level) {
    logger.level = options.level;
    levelFixed = true;
  }
}

/** A config file's log_level, applied unless --log-level or LOG_LEVEL chose one. */
export function applyConfiguredLevel(level: string): void {
  if (!levelFixed) logger.level = level;
}

/** How many lines at warn level or above were logged so far (any destination). */
export function warningsLogged(): number {
  let count = 0;
  for (const [level, lines] of linesByLevel) if (level >= logger.levels.values.warn) count += lines;
  return count;
}

/**
 * The logger of one role: every line carries `role`. A role process binds its role on the
 * root logger (so library lines carry it too), and then needs no child with the same key.
 */
export function roleLogger(role: string): Logger {
  return logger.bindings().role === role ? logger : logger.child({ role });
}
