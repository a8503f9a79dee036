/**
 * Free loopback TCP ports for tests that start servers (etcd, registries, Prometheus, the controller).
 * The kernel picks the port; there is an unavoidable window between closing our probe socket and the
 * server binding it, so harnesses that start a child process retry once or twice on "address in use".
 */
import { createServer, type Server } from 'node:net';

/** Resolves to a TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('freePort: no port allocated');
  return port;
}

/**
 * `n` distinct free ports on 127.0.0.1. The probe sockets are held open together while choosing, so
 * the ports differ from each other (calling `freePort()` n times could return the same port twice).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, listenEphemeral));
  try {
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        throw new Error('freePorts: listening socket has no TCP address');
      }
      return address.port;
    });
  } finally {
    await Promise.all(servers.map(closeServer));
  }
}

function listenEphemeral(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      resolve(server);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}
