// `npm run demo`: starts the embedded FHIR server (loaded with fixtures/fhir/bundles) and the real service in
// development mode, both on free loopback ports in this process, replays every request under
// fixtures/fhir/requests to every service over HTTP (its `fhirServer` pointed at the embedded server, so the
// partial and none requests exercise the fallback for real), prints what came back, and stops everything.
//
//   npm run demo                        every request, every service
//   npm run demo -- relapsed dlbcl      only request files whose name contains one of the substrings
//   npm run demo -- --json              raw responses on stdout (one JSON document per call), the rest on stderr
//   npm run demo -- --serve             keep both servers up after the replay and print their URLs
//   npm run demo -- --html FILE         also write one HTML page with every card as an EHR renders it (GFM, no script)
//   options: --port N, --fhir-port N (with --serve), --no-color, --help
//
// Exit status: 0 when every call was answered (200, or a 412 the contract expects for the request), 1 otherwise,
// 2 for a usage error. Development only (dev dependencies; excluded from the production build).
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config';
import { createServiceApp } from '../server/service';
import { routedServiceId } from '../hooks/services';
import { createLogger } from '../log';
import { loadServices } from '../policy/load';
import type { LoadedService } from '../policy/types';
import { createFileStore } from '../store/file-store';
import {
  BUNDLES_DIR,
  REQUESTS_DIR,
  expectsPreconditionFailed,
  loadFixtureRequests,
  pointAtFhirServer,
  readManifest,
  type FixtureRequest,
} from './demo-fixtures';
import { answered, expectationMismatches, formatCall, makeStyle, viewResponse, type CallResult } from './demo-format';
import { cardsPage, renderedCard, type PageSection } from './demo-render';
import { startFhirServer } from './fhir-server';

export const SERVICES_DIR = path.resolve(__dirname, '..', '..', 'cds-services');
/** Per call; generous, the service's own deadline (CDS_DEADLINE_MS) answers well before. */
const CALL_TIMEOUT_MS = 30000;

export interface DemoOptions {
  /** Substrings of request file names (none: every file). */
  filters: string[];
  json: boolean;
  serve: boolean;
  color: boolean;
  help: boolean;
  /** Where to write the HTML page of every card (`--html FILE`). */
  html?: string;
  /** Listening ports (default: any free port). */
  port?: number;
  fhirPort?: number;
}

export class UsageError extends Error {}

export const USAGE = [
  'usage: npm run demo -- [substring ...] [--json] [--html FILE] [--serve] [--port N] [--fhir-port N] [--no-color]',
  '',
  '  substring     replay only request files whose name contains it (any of several)',
  '  --json        print each raw response as a JSON document on stdout (everything else goes to stderr)',
  '  --html FILE   write one HTML page with every card as an EHR renders it (markdown-it, no script)',
  '  --serve       keep the service and the FHIR server running after the replay (Ctrl-C stops them)',
  '  --port N      the service port (default: a free port)',
  '  --fhir-port N the embedded FHIR server port (default: a free port)',
  '  --no-color    no ANSI colours (also when NO_COLOR is set or stdout is not a terminal)',
].join('\n');

function parsePort(name: string, value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) > 65535) {
    throw new UsageError(`${name} needs a port number`);
  }
  return Number(value);
}

/**
 * Reads the command line.
 * @param argv - the arguments after the script name
 * @param env - the environment (NO_COLOR)
 * @param isTty - whether stdout is a terminal
 * @throws UsageError on an unknown option or a bad port
 */
export function parseDemoArgs(argv: readonly string[], env: NodeJS.ProcessEnv = {}, isTty = false): DemoOptions {
  const options: DemoOptions = {
    filters: [],
    json: false,
    serve: false,
    color: isTty && env.NO_COLOR === undefined,
    help: false,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const next = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--json':
        options.json = true;
        break;
      case '--serve':
        options.serve = true;
        break;
      case '--no-color':
        options.color = false;
        break;
      case '--help':
      case '-h':
        options.help = true;
        break;
      case '--port':
        options.port = parsePort('--port', next());
        break;
      case '--fhir-port':
        options.fhirPort = parsePort('--fhir-port', next());
        break;
      case '--html': {
        const file = next();
        if (file === undefined || file === '' || file.startsWith('--')) {
          throw new UsageError('--html needs a file name');
        }
        options.html = file;
        break;
      }
      default:
        if (arg.startsWith('-')) {
          throw new UsageError(`unknown option ${arg}`);
        }
        options.filters.push(arg);
    }
  }
  return options;
}

export interface DemoServers {
  /** The service's base URL, e.g. `http://127.0.0.1:41234`. */
  serviceUrl: string;
  /** The embedded FHIR server's base URL, e.g. `http://127.0.0.1:41235/fhir`. */
  fhirUrl: string;
  services: LoadedService[];
  /** Warnings from loading the fixture bundles. */
  fixtureWarnings: string[];
  fixtureResources: number;
  close(): Promise<void>;
}

async function listen(server: http.Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) {
    return;
  }
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Starts the embedded FHIR server and the real service (development mode, real services, real pipeline) on
 * loopback. Whatever started is closed again when a later step fails.
 * @param opts - ports (default 0: any free port) and the environment to read the service configuration from
 *   (NODE_ENV, PORT, CDS_PUBLIC_BASE_URL are set by the demo; CDS_SERVICES_DIR defaults to the repository's
 *   cds-services, CDS_DATA_DIR to a temporary folder removed on close, CDS_LOG_LEVEL to `warn` on stderr)
 */
export async function startDemoServers(
  opts: { port?: number; fhirPort?: number; env?: NodeJS.ProcessEnv } = {}
): Promise<DemoServers> {
  const env = opts.env ?? process.env;
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch(() => undefined);
    }
  };
  try {
    const fhir = await startFhirServer({ port: opts.fhirPort ?? 0, host: '127.0.0.1', fixturesDir: BUNDLES_DIR });
    cleanups.push(() => fhir.close());

    // Listen first, so the public base URL (the Questionnaire canonical) names the real port.
    const server = http.createServer();
    cleanups.push(() => closeServer(server));
    const port = await listen(server, opts.port ?? 0);
    const serviceUrl = `http://127.0.0.1:${port}`;

    let dataDir = env.CDS_DATA_DIR;
    if (dataDir === undefined || dataDir.trim() === '') {
      const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-demo-'));
      dataDir = temp;
      cleanups.push(() => fs.promises.rm(temp, { recursive: true, force: true }));
    }
    const config = loadConfig({
      ...env,
      NODE_ENV: 'development',
      PORT: String(port),
      CDS_PUBLIC_BASE_URL: serviceUrl,
      CDS_DATA_DIR: dataDir,
      CDS_SERVICES_DIR: env.CDS_SERVICES_DIR ?? SERVICES_DIR,
      CDS_LOG_LEVEL: env.CDS_LOG_LEVEL ?? 'warn',
    });
    const services = loadServices(config.servicesDir);
    const store = await createFileStore({
      dataDir: config.dataDir,
      audit: config.audit,
      auditRetentionDays: config.auditRetentionDays,
    });
    cleanups.unshift(() => store.close());
    const logger = createLogger({ level: config.logLevel, destination: process.stderr });
    const app = createServiceApp(config, logger, store, services);
    server.on('request', app);
    return {
      serviceUrl,
      fhirUrl: fhir.url,
      services,
      fixtureWarnings: fhir.report.warnings,
      fixtureResources: fhir.report.resources,
      close: closeAll,
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/**
 * The order-sign services discovery lists, in its order, but the routed one: the fixture requests are order-sign
 * requests, and each policy's service has the manifest's expectations (the routed services and the other hooks are
 * tested end to end in test/hooks-e2e.test.ts).
 */
async function discoverServices(serviceUrl: string): Promise<Array<{ id: string; prefetch: Record<string, unknown> }>> {
  const res = await fetch(`${serviceUrl}/cds-services`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  if (res.status !== 200) {
    throw new Error(`discovery answered ${res.status}`);
  }
  const body = (await res.json()) as { services?: unknown };
  const services = Array.isArray(body.services) ? body.services : [];
  return services
    .filter(
      (s): s is { id: string; hook: string; prefetch?: unknown } =>
        !!s && typeof (s as { id?: unknown }).id === 'string' && (s as { hook?: unknown }).hook === 'order-sign'
    )
    .filter((s) => s.id !== routedServiceId('order-sign'))
    .map((s) => ({
      id: s.id,
      prefetch: s.prefetch && typeof s.prefetch === 'object' ? (s.prefetch as Record<string, unknown>) : {},
    }));
}

/**
 * Sends every request to every service, one call at a time, and reports each result as it arrives.
 * @param servers - the running servers
 * @param requests - the fixture requests
 * @param onResult - called after each call
 */
export async function replay(
  servers: Pick<DemoServers, 'serviceUrl' | 'fhirUrl'>,
  requests: readonly FixtureRequest[],
  onResult: (result: CallResult, request: FixtureRequest) => void
): Promise<CallResult[]> {
  const services = await discoverServices(servers.serviceUrl);
  const results: CallResult[] = [];
  for (const request of requests) {
    const body = pointAtFhirServer(request.body, servers.fhirUrl);
    const payload = JSON.stringify(body);
    for (const service of services) {
      const expected = request.manifest?.expected[service.id];
      const result: CallResult = {
        file: request.name.file,
        story: request.story,
        variant: request.name.variant,
        serviceId: service.id,
        status: 0,
        ms: 0,
        body: undefined,
        preconditionExpected: expectsPreconditionFailed(body, service.prefetch),
      };
      if (expected) {
        result.expected = expected;
      }
      if (request.manifest) {
        result.governedOrders = request.manifest.governedOrders;
      }
      const started = performance.now();
      try {
        const res = await fetch(`${servers.serviceUrl}/cds-services/${encodeURIComponent(service.id)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: payload,
          signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
        });
        result.status = res.status;
        const text = await res.text();
        try {
          result.body = JSON.parse(text) as unknown;
        } catch {
          result.body = text;
        }
      } catch (e) {
        result.error = e instanceof Error ? e.message : String(e);
      }
      result.ms = performance.now() - started;
      results.push(result);
      onResult(result, request);
    }
  }
  return results;
}

/** One section of the HTML page per call: its cards as an EHR shows them, and what else came back. */
function pageSections(results: readonly CallResult[]): PageSection[] {
  return results.map((r) => {
    const body = r.body as { cards?: unknown[] } | undefined;
    const view = viewResponse(r.body);
    const notes = view.systemActions.map(
      (a) =>
        `System action: ${a.type} ${a.resource}: ${[a.covered, a.paNeeded, a.docNeeded].map((c) => c ?? '-').join(' / ')}`
    );
    if (r.status !== 200) {
      notes.unshift(`HTTP ${r.status}${view.issues.length > 0 ? `: ${view.issues.join('; ')}` : ''}`);
    }
    return {
      title: `${r.file} → ${r.serviceId}`,
      subtitle: `story ${r.story}, ${r.variant} request`,
      cards: Array.isArray(body?.cards) ? body.cards.map(renderedCard) : [],
      notes,
    };
  });
}

export interface DemoIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface DemoRun {
  /** The exit status (0, 1 or 2). */
  code: number;
  results: CallResult[];
  /** Running servers, only with `--serve` (the caller closes them). */
  servers?: DemoServers;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The whole demo: arguments, servers, replay, output. Without `--serve` every server is closed before it returns.
 * @param argv - the arguments after the script name
 * @param io - where to write (lines end with a newline)
 * @param env - the environment
 * @param isTty - whether stdout is a terminal (colours)
 * @param hooks - `onServers` learns the servers as soon as they run (to close them on a signal)
 */
export async function runDemo(
  argv: readonly string[],
  io: DemoIo,
  env: NodeJS.ProcessEnv = process.env,
  isTty = false,
  hooks: { onServers?: (servers: DemoServers) => void } = {}
): Promise<DemoRun> {
  let options: DemoOptions;
  try {
    options = parseDemoArgs(argv, env, isTty);
  } catch (e) {
    io.err(`${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    return { code: 2, results: [] };
  }
  if (options.help) {
    io.out(`${USAGE}\n`);
    return { code: 0, results: [] };
  }
  const style = makeStyle(options.color && !options.json);
  // With --json, stdout carries only the JSON documents.
  const say = options.json ? io.err : io.out;

  const manifest = readManifest();
  const requests = loadFixtureRequests({ filters: options.filters, manifest });
  if (requests.length === 0 && !options.serve) {
    io.err(`no request file under ${REQUESTS_DIR} matches ${options.filters.map((f) => `"${f}"`).join(' or ')}\n`);
    return { code: 1, results: [] };
  }

  const servers = await startDemoServers({ port: options.port, fhirPort: options.fhirPort, env });
  hooks.onServers?.(servers);
  let results: CallResult[] = [];
  try {
    say(
      `${style.bold('embedded FHIR server')} ${servers.fhirUrl} (${servers.fixtureResources} resources from fixtures/fhir/bundles)\n` +
        `${style.bold('CDS service')} ${servers.serviceUrl} (development mode; ${servers.services.map((s) => s.id).join(', ')})\n`
    );
    for (const warning of servers.fixtureWarnings) {
      say(`${style.yellow('warning')} ${warning}\n`);
    }
    let current = '';
    results = await replay(servers, requests, (result, request) => {
      if (options.json) {
        const doc = { request: result.file, service: result.serviceId, status: result.status, response: result.body };
        io.out(`${JSON.stringify(result.error !== undefined ? { ...doc, error: result.error } : doc, null, 2)}\n`);
        if (!answered(result)) {
          io.err(`${result.file} -> ${result.serviceId}: ${result.error ?? `status ${result.status}`}\n`);
        }
        return;
      }
      if (request.name.file !== current) {
        current = request.name.file;
        const label = request.name.case ? `${request.name.case}, ${request.name.variant}` : request.name.variant;
        say(
          `\n${style.cyan('==')} ${style.bold(request.name.file)}  ${style.dim(`story ${request.story} (${label})`)}\n`
        );
      }
      say(`${formatCall(result, style).join('\n')}\n`);
    });
  } catch (e) {
    await servers.close();
    throw e;
  }

  if (options.html) {
    const file = path.resolve(options.html);
    fs.writeFileSync(file, cardsPage(pageSections(results), 'Blinatumomab coverage cards, as an EHR shows them'));
    say(`\nwrote ${file} (${results.length} calls)\n`);
  }

  const failed = results.filter((r) => !answered(r));
  const expected412 = results.filter((r) => r.status === 412 && r.preconditionExpected).length;
  const differ = results.filter((r) => expectationMismatches(r).length > 0);
  if (results.length > 0) {
    const parts = [
      `${plural(results.length, 'call')} (${plural(requests.length, 'request')} x ${plural(servers.services.length, 'service')})`,
      `${results.length - failed.length} answered${expected412 > 0 ? ` (${expected412} with the expected 412)` : ''}`,
      failed.length > 0 ? style.red(`${failed.length} failed`) : style.green('0 failed'),
    ];
    if (manifest) {
      parts.push(
        differ.length > 0 ? style.yellow(`${differ.length} differ from manifest.json`) : 'all as manifest.json expects'
      );
    }
    say(`\n${parts.join('; ')}\n`);
    for (const r of failed) {
      say(`${style.red('failed')} ${r.file} -> ${r.serviceId}: ${r.error ?? `HTTP ${r.status}`}\n`);
    }
  }
  const code = failed.length > 0 ? 1 : 0;

  if (!options.serve) {
    await servers.close();
    return { code, results };
  }
  const example = requests.find((r) => r.name.variant === 'none') ?? requests[0];
  const serviceId = servers.services[0]?.id ?? '<service-id>';
  const lines = [
    '',
    style.bold('Serving until Ctrl-C:'),
    `  discovery       curl -s ${servers.serviceUrl}/cds-services`,
    `  a service       POST ${servers.serviceUrl}/cds-services/{${servers.services.map((s) => s.id).join('|')}}`,
    `  questionnaire   curl -s ${servers.serviceUrl}/fhir/Questionnaire/${serviceId}`,
    `  FHIR server     curl -s '${servers.fhirUrl}/Patient?_count=5'`,
  ];
  if (example) {
    const file = path.relative(process.cwd(), example.path);
    const placeholder = typeof example.body.fhirServer === 'string' ? example.body.fhirServer : undefined;
    const source = placeholder ? `sed 's#${placeholder}#${servers.fhirUrl}#' ${file}` : `cat ${file}`;
    lines.push(
      `  replay one      ${source} | curl -s -H 'Content-Type: application/json' --data-binary @- ${servers.serviceUrl}/cds-services/${serviceId}`
    );
  }
  say(`${lines.join('\n')}\n`);
  return { code, results, servers };
}

async function main(): Promise<void> {
  // Ctrl-C, SIGTERM or a closed stdout pipe (`| head`) at any moment: close what runs (and the temporary data
  // folder), then exit.
  let servers: DemoServers | undefined;
  let exitCode = 130;
  let stopping = false;
  const stop = (code: number): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    (servers ? servers.close() : Promise.resolve()).then(
      () => process.exit(code),
      () => process.exit(1)
    );
  };
  process.once('SIGINT', () => stop(exitCode));
  process.once('SIGTERM', () => stop(exitCode));
  process.stdout.on('error', (e: NodeJS.ErrnoException) => stop(e.code === 'EPIPE' ? 0 : 1));

  const io: DemoIo = {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
  };
  const run = await runDemo(process.argv.slice(2), io, process.env, process.stdout.isTTY === true, {
    onServers: (s) => {
      servers = s;
    },
  });
  if (!run.servers) {
    process.exit(run.code);
  }
  // --serve: running until a signal; the exit status is the replay's.
  exitCode = run.code;
}

// Run directly (node dist/dev/demo.js) or through scripts/start.js, which sets argv[1] to this file and requires it.
if (require.main === module || path.resolve(process.argv[1] ?? '') === __filename) {
  main().catch((e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
