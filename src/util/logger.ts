import pino from 'pino';

/** JSON-lines logs on stderr, so stdout stays free for command output. */
export const logger = pino(
  { level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } },
  pino.destination({ fd: 2, sync: false }),
);

export type Logger = pino.Logger;
