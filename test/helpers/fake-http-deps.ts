// Fakes for HTTP-layer tests: a small LoadedService, a captured logger, and createApp wired to them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Questionnaire } from 'fhir/r4';
import { loadConfig, type Config } from '../../src/config';
import type { DosingRules } from '../../src/dosing/types';
import { policyService, type CdsService } from '../../src/hooks/services';
import type { CallContext, CdsResponse, HookCall } from '../../src/hooks/types';
import { createApp, type AppDeps } from '../../src/http/app';
import { createLogger } from '../../src/log';
import { CodeMatcher } from '../../src/policy/code-sets';
import type { LoadedService } from '../../src/policy/types';
import { createFileStore, type FileStore } from '../../src/store/file-store';

export function fakeService(id: string): LoadedService {
  return {
    id,
    dir: `/nonexistent/${id}`,
    definition: {
      id,
      hook: 'order-sign',
      title: `Title of ${id}`,
      description: `Description of ${id}`,
      prefetch: { patient: 'Patient/{{context.patientId}}' },
      usageRequirements: 'Test service.',
    },
    label: `Payer ${id}`,
    labelNamesPayer: true,
    version: '1.0',
    sourceDocument: 'test',
    drug: new CodeMatcher([]),
    payers: [],
    billingCode: { system: 'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets', code: 'J9039' },
    documentation: [],
    dosing: {} as DosingRules,
    outline: {
      criteria: [],
      universal: [],
      pathways: [],
      exclusions: [],
      items: [],
      authorization: { initial: 'per cycle', continuation: 'per cycle' },
    },
    policy: {},
  };
}

/** A valid order-sign body (sandbox-like: no Bundle.type). */
export function orderSignBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hook: 'order-sign',
    hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
    context: {
      patientId: 'pat-1',
      userId: 'Practitioner/doc-1',
      draftOrders: {
        resourceType: 'Bundle',
        entry: [{ resource: { resourceType: 'MedicationRequest', id: 'mr-1', status: 'draft', intent: 'order' } }],
      },
    },
    ...overrides,
  };
}

export interface Harness {
  app: ReturnType<typeof createApp>;
  config: Config;
  store: FileStore;
  dataDir: string;
  /** Every log line written, parsed. */
  logs: () => Array<Record<string, unknown>>;
  /** Everything written to the log, as text. */
  logText: () => string;
  /** Calls made to the fake hook handler. */
  calls: Array<{ service: CdsService; request: HookCall; ctx: CallContext }>;
  close: () => Promise<void>;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  services?: LoadedService[];
  handleCall?: AppDeps['handleCall'];
  buildQuestionnaire?: AppDeps['buildQuestionnaire'];
  now?: () => Date;
  authOptions?: AppDeps['authOptions'];
}

export async function makeHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-http-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    CDS_DATA_DIR: dataDir,
    CDS_PUBLIC_BASE_URL: 'http://cds.test',
    ...options.env,
  });
  const chunks: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => void chunks.push(s) } });
  const store = await createFileStore({
    dataDir: config.dataDir,
    audit: config.audit,
    auditRetentionDays: config.auditRetentionDays,
  });
  const calls: Harness['calls'] = [];
  const services = options.services ?? [fakeService('svc-b'), fakeService('svc-a')];
  const defaultHandler = (service: CdsService, request: HookCall, ctx: CallContext): Promise<CdsResponse> => {
    calls.push({ service, request, ctx });
    return Promise.resolve({ cards: [] });
  };
  const handleCall: AppDeps['handleCall'] = options.handleCall
    ? async (s, r, c) => {
        calls.push({ service: s, request: r, ctx: c });
        return options.handleCall!(s, r, c);
      }
    : defaultHandler;
  const buildQuestionnaire =
    options.buildQuestionnaire ??
    ((service: LoadedService, baseUrl: string): Questionnaire => ({
      resourceType: 'Questionnaire',
      id: service.id,
      url: `${baseUrl}/fhir/Questionnaire/${service.id}`,
      status: 'active',
    }));
  const app = createApp({
    config,
    services: new Map(services.map((s) => [s.id, s])),
    // The fakes serve order-sign only (the real services of every hook are tested end to end).
    cdsServices: services.map((s) => policyService(s, 'order-sign')),
    store,
    logger,
    handleCall,
    buildQuestionnaire,
    now: options.now,
    authOptions: options.authOptions,
  });
  return {
    app,
    config,
    store,
    dataDir,
    calls,
    logs: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    logText: () => chunks.join(''),
    close: async () => {
      await store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The audit records written so far (after the store flushed). */
export async function readAudit(h: Harness): Promise<Array<Record<string, unknown>>> {
  await h.store.flush();
  const dir = path.join(h.dataDir, 'audit');
  if (!fs.existsSync(dir)) {
    return [];
  }
  return fs
    .readdirSync(dir)
    .sort()
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n'))
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
