// The real application for end-to-end tests: the services loaded from cds-services/ (or another folder), the real
// order-sign pipeline, a temporary data directory and a silent logger; plus small readers of its responses.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import type { Extension, MedicationRequest } from 'fhir/r4';
import { loadConfig, type Config } from '../../src/config';
import type { Card, CdsResponse, HookRequest } from '../../src/hooks/types';
import { createServiceApp } from '../../src/server/service';
import { createLogger } from '../../src/log';
import { loadServices } from '../../src/policy/load';
import type { LoadedService } from '../../src/policy/types';
import { createFileStore } from '../../src/store/file-store';
import { FIXTURES_ROOT } from '../../src/dev/demo-fixtures';
import { startFhirServer, type RunningFhirServer } from '../../src/dev/fhir-server';

export const SERVICES_DIR = path.resolve(__dirname, '..', '..', 'cds-services');
/** What clients call in these tests: the Questionnaire canonical hangs off it. */
export const BASE_URL = 'http://cds.test';
/** When calls are received unless a test says otherwise: the fixtures' `authoredOn` day, mid-afternoon UTC. */
export const RECEIVED_AT = new Date('2026-11-22T15:00:00Z');
export const RECEIVED_DATE = '2026-11-22';

export const MMM = 'blinatumomab-mmm';
export const SINGLE_AGENT = 'blinatumomab-single-agent';
export const SERVICE_IDS = [MMM, SINGLE_AGENT] as const;

export const COVERAGE_INFORMATION_URL =
  'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';

export interface ServiceAppOptions {
  /** Where the policy folders are (default: the repository's cds-services). Ignored when `services` is given. */
  servicesDir?: string;
  services?: LoadedService[];
  /** Extra environment for loadConfig (NODE_ENV is `test`, i.e. development mode). */
  env?: Record<string, string>;
  /** When calls are received (default RECEIVED_AT). */
  now?: () => Date;
}

export interface ServiceApp {
  app: Express;
  config: Config;
  services: LoadedService[];
  service: (id: string) => LoadedService;
  dataDir: string;
  close: () => Promise<void>;
}

const loaded = new Map<string, LoadedService[]>();

/**
 * Loads the services of a folder once per test file (they are frozen, so sharing them is safe).
 * @param dir - the services directory
 */
export function servicesOf(dir: string = SERVICES_DIR): LoadedService[] {
  const key = path.resolve(dir);
  let services = loaded.get(key);
  if (!services) {
    services = loadServices(key);
    loaded.set(key, services);
  }
  return services;
}

/**
 * Builds the real application.
 * @param options - services, environment and clock
 */
export async function buildServiceApp(options: ServiceAppOptions = {}): Promise<ServiceApp> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-e2e-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    CDS_DATA_DIR: dataDir,
    CDS_PUBLIC_BASE_URL: BASE_URL,
    CDS_LOG_LEVEL: 'silent',
    ...options.env,
  });
  const services = options.services ?? servicesOf(options.servicesDir);
  const store = await createFileStore({
    dataDir: config.dataDir,
    audit: config.audit,
    auditRetentionDays: config.auditRetentionDays,
  });
  const now = options.now ?? ((): Date => new Date(RECEIVED_AT));
  const app = createServiceApp(config, createLogger({ level: 'silent' }), store, services, now);
  return {
    app,
    config,
    services,
    service: (id) => {
      const found = services.find((s) => s.id === id);
      if (!found) {
        throw new Error(`no service ${id}`);
      }
      return found;
    },
    dataDir,
    close: async () => {
      await store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ---- reading responses ------------------------------------------------------------------------------------------

/** `extension["coverage-assessment"]` of a coverage card, as the contract writes it (section 6). */
export interface Assessment {
  order?: string;
  policy: string;
  policyVersion: string;
  likelihood: string;
  pathway?: string;
  criteria?: Array<{ id: string; clause: string; status: string; evidence?: string[] }>;
  missingDocumentation?: Array<{ criterion: string; kind: string; request: string }>;
  authorization: { type: string; cycle: number; length: string };
}

export function assessmentOf(card: Card): Assessment | undefined {
  return card.extension?.['coverage-assessment'] as Assessment | undefined;
}

export function coverageCards(response: CdsResponse): Card[] {
  return response.cards.filter((c) => assessmentOf(c) !== undefined);
}

/** The one coverage card of a single-order response (throws when there is not exactly one). */
export function onlyAssessment(response: CdsResponse): Assessment {
  const cards = coverageCards(response);
  if (cards.length !== 1) {
    throw new Error(`expected one coverage card, got ${cards.length}`);
  }
  return assessmentOf(cards[0] as Card) as Assessment;
}

export function topicOf(card: Card): string | undefined {
  return card.source.topic?.code;
}

/** Documentation cards: topic coverage-info without a coverage assessment. */
export function documentationCards(response: CdsResponse): Card[] {
  return response.cards.filter((c) => topicOf(c) === 'coverage-info' && assessmentOf(c) === undefined);
}

/** Correction cards of orders with an id: topic limits, with the corrected order as a suggestion. */
export function correctionCards(response: CdsResponse): Card[] {
  return response.cards.filter((c) => topicOf(c) === 'limits' && (c.suggestions?.length ?? 0) > 0);
}

/** Limits cards without a suggestion (dose checks; a correction of an order without id). */
export function limitsCardsWithoutSuggestion(response: CdsResponse): Card[] {
  return response.cards.filter((c) => topicOf(c) === 'limits' && (c.suggestions?.length ?? 0) === 0);
}

/** The coverage-information extensions of a resource. */
export function coverageInformations(resource: { extension?: Extension[] }): Extension[] {
  return (resource.extension ?? []).filter((e) => e.url === COVERAGE_INFORMATION_URL);
}

/** A coverage-information's sub-extensions by url (several for `detail`). */
export function subs(info: Extension, url: string): Extension[] {
  return (info.extension ?? []).filter((e) => e.url === url);
}

export function codeOf(info: Extension, url: string): string | undefined {
  return subs(info, url)[0]?.valueCode;
}

/** The coverage-information our system action adds to order `index` of `response.systemActions`. */
export function systemActionInfo(response: CdsResponse, index = 0): Extension {
  const resource = response.systemActions?.[index]?.resource as MedicationRequest | undefined;
  const infos = resource ? coverageInformations(resource) : [];
  const info = infos[infos.length - 1];
  if (!info) {
    throw new Error(`systemActions[${index}] carries no coverage-information`);
  }
  return info;
}

/** The request with its draft order `index` replaced by `resource`. */
export function withDraftOrder(request: HookRequest, index: number, resource: unknown): HookRequest {
  const copy = structuredClone(request);
  const entry = copy.context.draftOrders.entry?.[index];
  if (!entry) {
    throw new Error(`no draft order ${index}`);
  }
  entry.resource = structuredClone(resource) as MedicationRequest;
  return copy;
}

// ---- FHIR servers holding only what a request needs -----------------------------------------------------------------

/**
 * Starts an embedded FHIR server holding only the given fixture bundles (paths relative to fixtures/fhir, as
 * manifest.json lists them per request). Searches over one patient's resources are several times faster than over
 * every fixture at once; closing it also removes its temporary folder.
 * @param bundles - e.g. `['bundles/adult-dlbcl.json']`
 */
export async function startFhirServerWith(bundles: readonly string[]): Promise<RunningFhirServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-fhir-'));
  for (const bundle of bundles) {
    fs.copyFileSync(path.join(FIXTURES_ROOT, bundle), path.join(dir, path.basename(bundle)));
  }
  try {
    const server = await startFhirServer({ fixturesDir: dir });
    return {
      ...server,
      close: async () => {
        await server.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
