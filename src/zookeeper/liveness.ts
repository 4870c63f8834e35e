import type { Socket } from 'node:net';
import type { Client } from 'node-zookeeper-client';
import { currentSocket } from './client-internals';

/**
 * Cuts the client's connection when nothing has arrived on it for too long. The client pings
 * after a third of the session timeout of silence and the server answers at once, so a live
 * connection is never quiet for long; one that is (the server frozen, the network path gone
 * without a reset) would otherwise hold the session "connected" forever while the server
 * expires it. Once cut, the client reconnects, to another server when there are several.
 * The same check bounds the wait for the server's answer to a connection handshake.
 */
export class SilentConnectionCutter {
  private watched?: Socket;
  private lastHeard = 0;
  private timer?: NodeJS.Timeout;

  /**
   * @param silenceLimitMs how long a connection may stay silent, read at each check (it
   *   follows the session timeout the server granted)
   * @param onCut told how long the connection had been silent when it was cut
   */
  constructor(
    private readonly client: Client,
    private readonly silenceLimitMs: () => number,
    private readonly onCut: (silentMs: number) => void,
  ) {}

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.check();
      this.timer = setTimeout(tick, checkIntervalMs(this.silenceLimitMs())).unref();
    };
    this.timer = setTimeout(tick, checkIntervalMs(this.silenceLimitMs())).unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const socket = currentSocket(this.client);
    if (!socket || socket.destroyed) return;
    const now = Date.now();
    if (socket !== this.watched) {
      this.watched = socket;
      this.lastHeard = now;
      socket.on('data', () => (this.lastHeard = Date.now()));
      return;
    }
    // Still opening the TCP connection: the client's own connect timeout covers that part.
    if (socket.connecting) this.lastHeard = now;
    const silentMs = now - this.lastHeard;
    if (silentMs > this.silenceLimitMs()) {
      socket.destroy();
      this.onCut(silentMs);
    }
  }
}

/** Checks often enough to cut within a fifth of the limit past it, and at most every 50 ms. */
function checkIntervalMs(silenceLimitMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(silenceLimitMs / 5)));
}
