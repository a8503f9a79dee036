import {
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  status as grpcStatus,
  type ClientDuplexStream,
  type ServerDuplexStream,
  type StatusObject,
} from '@grpc/grpc-js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { realClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/logger.js';
import {
  AgentGatewayClient,
  AgentGatewayService,
  type StreamOpen,
  type TunnelFrame,
} from '../../proto/gen/berth/v1/agent.js';
import { TunnelBroker, type TunnelFrameIn } from './tunnel-broker.js';

// A real grpc-js server and client over loopback; the node identity comes from call metadata here
// (the gateway takes it from the verified client certificate).
const logger = createLogger({ level: 'error' });
const opened: StreamOpen[] = [];
let connected = new Set(['n1', 'n2']);
const broker = new TunnelBroker({
  sendStreamOpen: (node, open) => {
    if (!connected.has(node)) return false;
    opened.push(open);
    return true;
  },
  isConnected: (node) => connected.has(node),
  clock: realClock,
  logger,
  openTimeoutMs: 2000,
});
const server = new Server();
server.addService(AgentGatewayService, {
  tunnel: (call: ServerDuplexStream<TunnelFrame, TunnelFrame>) => {
    const node = call.metadata.get('node')[0];
    broker.accept(call, typeof node === 'string' && node !== '' ? node : undefined);
  },
});
let client: AgentGatewayClient;

before(async () => {
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => {
      if (err !== null) reject(err);
      else resolve(p);
    });
  });
  client = new AgentGatewayClient(`127.0.0.1:${port}`, credentials.createInsecure());
});

after(() => {
  broker.close();
  client.close();
  server.forceShutdown();
});

function dial(node: string | undefined): ClientDuplexStream<TunnelFrame, TunnelFrame> {
  const md = new Metadata();
  if (node !== undefined) md.set('node', node);
  return client.tunnel(md);
}

function statusOf(call: ClientDuplexStream<TunnelFrame, TunnelFrame>): Promise<StatusObject> {
  call.on('data', () => undefined);
  call.on('error', () => undefined);
  return new Promise((resolve) => call.on('status', resolve));
}

async function nextOpen(): Promise<StreamOpen> {
  for (let i = 0; i < 200; i++) {
    const o = opened.shift();
    if (o !== undefined) return o;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('no StreamOpen sent');
}

const frame = (channel: number, data: string, close = false): TunnelFrame => ({
  streamId: '',
  channel,
  data: Buffer.from(data),
  close,
});

describe('TunnelBroker', () => {
  it('sends StreamOpen, pairs the node’s Tunnel call and relays frames both ways', async () => {
    const pending = broker.open('n1', {
      $case: 'logs',
      logs: {
        namespace: 'default',
        podName: 'p',
        podUid: 'u',
        container: 'c',
        follow: false,
        previous: false,
        timestamps: false,
        tailLines: -1,
        sinceSeconds: 0,
        sinceTimeMs: 0,
        limitBytes: 0,
      },
    });
    const open = await nextOpen();
    assert.equal(open.request?.$case, 'logs');
    const agent = dial('n1');
    const fromController: TunnelFrame[] = [];
    agent.on('data', (f: TunnelFrame) => fromController.push(f));
    const agentStatus = new Promise<StatusObject>((resolve) => agent.on('status', resolve));
    agent.write({ streamId: open.streamId, channel: 0, data: Buffer.alloc(0), close: false });
    const result = await pending;
    assert.ok(result.ok);
    const tunnel = result.tunnel;
    assert.equal(tunnel.nodeName, 'n1');
    assert.equal(tunnel.streamId, open.streamId);
    tunnel.send(0, Buffer.from('stdin bytes'));
    tunnel.closeChannel(0);
    agent.write(frame(1, 'out'));
    agent.write(frame(2, 'err'));
    agent.end();
    const got: TunnelFrameIn[] = [];
    for await (const f of tunnel) got.push(f);
    assert.deepEqual(
      got.map((f) => [f.channel, f.data.toString()]),
      [
        [1, 'out'],
        [2, 'err'],
      ],
    );
    assert.equal((await agentStatus).code, grpcStatus.OK);
    assert.deepEqual(
      fromController.map((f) => [f.channel, f.data.toString(), f.close]),
      [
        [0, 'stdin bytes', false],
        [0, '', true],
      ],
    );
    assert.equal(broker.size.open, 0);
  });

  it('answers NodeNotConnected at once for a node without a session', async () => {
    const r = await broker.open('ghost', { $case: 'exec', exec: execReq() });
    assert.ok(!r.ok);
    assert.equal(r.reason, 'NodeNotConnected');
    assert.match(r.message, /node "ghost" is not connected/);
  });

  it('times out when the agent never calls back, and refuses a late tunnel', async () => {
    const quick = new TunnelBroker({
      sendStreamOpen: () => true,
      isConnected: () => true,
      clock: realClock,
      logger,
      openTimeoutMs: 50,
    });
    const r = await quick.open('n1', { $case: 'exec', exec: execReq() });
    assert.equal(!r.ok && r.reason, 'Timeout');
    assert.equal(quick.size.pending, 0);
  });

  it("refuses a tunnel from another node's identity and keeps the stream for the right node", async () => {
    const pending = broker.open('n1', { $case: 'exec', exec: execReq() });
    const open = await nextOpen();
    const intruder = dial('n2');
    const intruderStatus = statusOf(intruder);
    intruder.write({ streamId: open.streamId, channel: 0, data: Buffer.alloc(0), close: false });
    const s = await intruderStatus;
    assert.equal(s.code, grpcStatus.PERMISSION_DENIED);
    assert.match(s.details, /node "n2" may not open a stream that was asked of node "n1"/);
    assert.equal(broker.size.pending, 1);

    const agent = dial('n1');
    agent.on('data', () => undefined);
    agent.write({ streamId: open.streamId, channel: 0, data: Buffer.alloc(0), close: false });
    const r = await pending;
    assert.ok(r.ok);
    // The controller closing the tunnel ends the agent's call.
    const agentStatus = new Promise<StatusObject>((resolve) => agent.on('status', resolve));
    r.tunnel.close();
    agent.end();
    assert.equal((await agentStatus).code, grpcStatus.OK);
  });

  it('refuses unknown stream ids and calls without a node identity', async () => {
    const stray = dial('n1');
    const strayStatus = statusOf(stray);
    stray.write({ streamId: 'nope', channel: 0, data: Buffer.alloc(0), close: false });
    assert.equal((await strayStatus).code, grpcStatus.NOT_FOUND);
    const anon = dial(undefined);
    const anonStatus = statusOf(anon);
    anon.write({ streamId: 'x', channel: 0, data: Buffer.alloc(0), close: false });
    assert.equal((await anonStatus).code, grpcStatus.UNAUTHENTICATED);
  });

  it('gives up a pending open when its caller aborts', async () => {
    const abort = new AbortController();
    const pending = broker.open('n2', { $case: 'exec', exec: execReq() }, abort.signal);
    await nextOpen();
    abort.abort();
    const r = await pending;
    assert.equal(!r.ok && r.reason, 'Aborted');
    assert.equal(broker.size.pending, 0);
    connected = new Set(['n1', 'n2']);
  });
});

function execReq(): {
  namespace: string;
  podName: string;
  podUid: string;
  container: string;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  attach: boolean;
} {
  return {
    namespace: 'default',
    podName: 'p',
    podUid: 'u',
    container: 'c',
    command: ['true'],
    stdin: false,
    stdout: true,
    stderr: true,
    tty: false,
    attach: false,
  };
}
