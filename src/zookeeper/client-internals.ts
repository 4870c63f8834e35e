import type { Socket } from 'node:net';
import { Client, createClient, Option } from 'node-zookeeper-client';

/**
 * What this module needs from node-zookeeper-client 1.1.3 beyond its typed surface, in one
 * place so an upgrade has one file to check:
 * - resuming a session by id and password (`sessionId` / `sessionPassword` options, which the
 *   library reads but its type definitions omit);
 * - the socket of the current connection: the library never times out a connection whose
 *   server stopped answering (a frozen process, a half-open TCP connection), so the session's
 *   liveness check needs it to cut such a connection, after which the library reconnects;
 * - whether the connection manager has closed for good, and its connect timer, so close() can
 *   make sure no reconnection attempt or timer outlives it.
 */

export interface SessionCredentials {
  /** 8 bytes. */
  id: Buffer;
  /** 16 bytes. */
  password: Buffer;
}

interface ClientWithConnection {
  connectionManager?: { socket?: Socket; state?: number; connectTimeoutHandler?: NodeJS.Timeout | null };
}

/** The library's ConnectionManager.STATES.CLOSED: closed for good, no reconnection. */
const CONNECTION_CLOSED = -2;

export interface ClientOptions {
  sessionTimeoutMs: number;
  /** Longest pause, randomised, before trying the servers again once all refused. */
  spinDelayMs: number;
  /** Resume this session instead of opening a new one. */
  resume?: SessionCredentials;
}

export function createZkClient(connectString: string, options: ClientOptions): Client {
  const libraryOptions: Partial<Option> & Partial<{ sessionId: Buffer; sessionPassword: Buffer }> = {
    sessionTimeout: options.sessionTimeoutMs,
    spinDelay: options.spinDelayMs,
    // Retries are the session's business: it waits for the reconnection first.
    retries: 0,
  };
  if (options.resume) {
    libraryOptions.sessionId = options.resume.id;
    libraryOptions.sessionPassword = options.resume.password;
  }
  return createClient(connectString, libraryOptions);
}

/** The socket the client currently uses or tries, if any. */
export function currentSocket(client: Client): Socket | undefined {
  return (client as unknown as ClientWithConnection).connectionManager?.socket;
}

/** True once the client has closed for good (it will not reconnect). */
export function connectionClosed(client: Client): boolean {
  return (client as unknown as ClientWithConnection).connectionManager?.state === CONNECTION_CLOSED;
}

/** Cuts the current connection: the library sees it close and (unless closing) reconnects. */
export function dropConnection(client: Client): void {
  currentSocket(client)?.destroy();
}

/** Clears the timer of a connection attempt cut short (the library clears it only on success or error). */
export function clearConnectTimer(client: Client): void {
  const manager = (client as unknown as ClientWithConnection).connectionManager;
  if (manager?.connectTimeoutHandler) clearTimeout(manager.connectTimeoutHandler);
}
