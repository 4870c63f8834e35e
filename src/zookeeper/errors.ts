import { connect } from 'node:net';
import { Exception } from 'node-zookeeper-client';
import { formatServer, ZkServerAddress } from './connect-string';

/**
 * Every failure of a ZooKeeper session is a ZkError. `code` is one of this module's own
 * (UNREACHABLE: no session could be opened; SESSION_EXPIRED: the server ended the session,
 * make a new one; SESSION_CLOSED: close() was called) or the server's name for a refused
 * request (NO_NODE, NODE_EXISTS, NO_AUTH, NO_CHILDREN_FOR_EPHEMERALS, BAD_ARGUMENTS, ...).
 */
export class ZkError extends Error {
  override readonly name = 'ZkError';
  constructor(
    readonly code: string,
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

export const sessionExpired = () =>
  new ZkError('SESSION_EXPIRED', 'the ZooKeeper session expired: a new session must be opened');

export const sessionClosed = () => new ZkError('SESSION_CLOSED', 'the ZooKeeper session is closed');

/** The library's error code, when `error` is one of its exceptions. */
export function libraryCode(error: unknown): number | undefined {
  return error instanceof Exception ? error.getCode() : undefined;
}

/** A request the server (or the library) refused, as a ZkError naming the operation and path. */
export function requestError(operation: string, path: string, error: unknown): ZkError {
  if (error instanceof Exception) {
    return new ZkError(error.getName(), `ZooKeeper ${operation} ${path} failed: ${error.getName()}`, path);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ZkError('CLIENT_ERROR', `ZooKeeper ${operation} ${path} failed: ${message}`, path);
}

/**
 * Why no session could be opened, server by server: refused, no answer, or a TCP connection
 * that never became a ZooKeeper session (not a ZooKeeper server, or one not serving).
 */
export async function describeUnreachable(
  servers: ZkServerAddress[],
  probeTimeoutMs = 1000,
): Promise<string> {
  const reasons = await Promise.all(
    servers.map(async (server) => `${formatServer(server)} ${await probe(server, probeTimeoutMs)}`),
  );
  return reasons.join('; ');
}

function probe({ host, port }: ZkServerAddress, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (reason: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(() => done(`did not answer within ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () =>
      done('accepts TCP connections but opened no ZooKeeper session (not ZooKeeper, or not serving)'),
    );
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done(
        error.code === 'ECONNREFUSED' ? 'refused the connection' : `failed: ${error.code ?? error.message}`,
      ),
    );
  });
}
