import pino from 'pino';

/** JSON-lines logs on stderr, so stdout stays free for command output. */
export const logger = pino(
  { level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } },
  pino.destination({ fd: 2, sync: false }),
);

export type Logger = pino.Logger;

/**
 * The logger of one role: every line carries `role`. A role process binds its role on the
 * root logger (so library lines carry it too), and then needs no child with the same key.
 */
export function roleLogger(role: string): Logger {
  return logger.bindings().role === role ? logger : logger.child({ role });
}
