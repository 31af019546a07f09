// The whole service in the test process: the real policy folders, the real order-sign pipeline and store, a logger
// writing into a buffer, listening on 127.0.0.1 with a keep-alive client; and a record of every outbound TCP
// connection the process opens (diagnostics_channel `net.client.socket`), to prove where the service connects.
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config';
import { createServiceApp } from '../../src/server/service';
import { createLogger } from '../../src/log';
import { loadServices } from '../../src/policy/load';
import type { LoadedService } from '../../src/policy/types';
import { createFileStore, type FileStore } from '../../src/store/file-store';

const ROOT = path.resolve(__dirname, '..', '..');

export interface LiveAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Wall time from sending to the end of the answer, in ms. */
  elapsedMs: number;
}

export interface LiveApp {
  config: Config;
  services: LoadedService[];
  port: number;
  store: FileStore;
  /** Everything logged, as text. */
  logText: () => string;
  /** Every log line, parsed. */
  logs: () => Array<Record<string, unknown>>;
  /** Sends one request on the keep-alive agent. */
  request: (opts: {
    method?: string;
    path: string;
    body?: string | Buffer;
    headers?: Record<string, string>;
  }) => Promise<LiveAnswer>;
  close: () => Promise<void>;
}

let cachedServices: LoadedService[] | undefined;

/** The policy folders, loaded once per test file. */
export function realServices(): LoadedService[] {
  cachedServices ??= loadServices(path.join(ROOT, 'cds-services'));
  return cachedServices;
}

/**
 * Starts the real app with the given environment (NODE_ENV defaults to development).
 * @param env - configuration variables
 */
export async function startLiveApp(env: Record<string, string> = {}): Promise<LiveApp> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-live-'));
  const config = loadConfig({ NODE_ENV: 'development', CDS_DATA_DIR: dataDir, ...env });
  const chunks: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => void chunks.push(s) } });
  const store = await createFileStore({
    dataDir: config.dataDir,
    audit: config.audit,
    auditRetentionDays: config.auditRetentionDays,
  });
  const services = realServices();
  const app = createServiceApp(config, logger, store, services);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  const request: LiveApp['request'] = ({ method = 'POST', path: p, body, headers = {} }) =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      // A Content-Length, as EHRs send: a chunked body left unread makes Node close the connection after answering.
      const length = body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) };
      const req = http.request(
        { host: '127.0.0.1', port, method, path: p, agent, headers: { ...length, ...headers } },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(parts).toString('utf8'),
              elapsedMs: performance.now() - started,
            })
          );
          res.on('error', reject);
        }
      );
      req.on('error', reject);
      req.end(body);
    });

  return {
    config,
    services,
    port,
    store,
    logText: () => chunks.join(''),
    logs: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    request,
    close: async () => {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface OutboundRecord {
  /** `address:port` of every outbound connection made (after connect). */
  connections: string[];
  /** Host names looked up through DNS. */
  lookups: string[];
  stop: () => void;
}

/** Records every outbound TCP connection of this process until `stop()`. */
export function recordOutbound(): OutboundRecord {
  const record: OutboundRecord = { connections: [], lookups: [], stop: () => undefined };
  const onSocket = (message: unknown): void => {
    const socket = (message as { socket: Socket }).socket;
    socket.once('lookup', (_err: Error | null, _address: string, _family: number, host: string) => {
      record.lookups.push(host);
    });
    socket.once('connect', () => {
      record.connections.push(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`);
    });
  };
  diagnostics.subscribe('net.client.socket', onSocket);
  record.stop = () => diagnostics.unsubscribe('net.client.socket', onSocket);
  return record;
}

/**
 * A fixture request (fixtures/fhir/requests), parsed.
 * @param name - its file name
 */
export function fixtureRequest(name: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'fixtures', 'fhir', 'requests', name), 'utf8')) as Record<
    string,
    unknown
  >;
}

/**
 * The resources of a fixture bundle (fixtures/fhir/bundles), by `Type/id`.
 * @param name - its file name
 */
export function fixtureResources(name: string): Map<string, Record<string, unknown>> {
  const bundle = JSON.parse(fs.readFileSync(path.join(ROOT, 'fixtures', 'fhir', 'bundles', name), 'utf8')) as {
    entry?: Array<{ resource?: Record<string, unknown> }>;
  };
  const out = new Map<string, Record<string, unknown>>();
  for (const e of bundle.entry ?? []) {
    const r = e.resource;
    if (r && typeof r['resourceType'] === 'string' && typeof r['id'] === 'string') {
      out.set(`${r['resourceType']}/${r['id']}`, r);
    }
  }
  return out;
}
