import { AddressInfo, connect, createServer, Socket } from 'node:net';

/**
 * A TCP relay to a server (ZooKeeper, in the tests) that can be cut: `cut()` drops every
 * relayed connection and refuses (closes at once) new ones until `restore()`, so a client
 * loses its connection while the server, and other clients, carry on. `hold()` keeps what
 * the server sends until `release()`, which hands it to the client in one piece.
 */
export async function startRelay(target: string) {
  const [host, port] = target.split(':');
  const sockets = new Set<Socket>();
  let open = true;
  let held: { to: Socket; chunks: Buffer[] }[] | undefined;
  const server = createServer((incoming) => {
    if (!open) return void incoming.destroy();
    const outgoing = connect(Number(port), host);
    for (const socket of [incoming, outgoing]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    incoming.pipe(outgoing);
    outgoing.on('data', (chunk: Buffer) => {
      const queue = held?.find((entry) => entry.to === incoming);
      if (queue) queue.chunks.push(chunk);
      else if (held) held.push({ to: incoming, chunks: [chunk] });
      else incoming.write(chunk);
    });
    incoming.on('close', () => outgoing.destroy());
    outgoing.on('close', () => incoming.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    connectString: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    hold() {
      held = [];
    },
    release() {
      for (const { to, chunks } of held ?? []) to.write(Buffer.concat(chunks));
      held = undefined;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
