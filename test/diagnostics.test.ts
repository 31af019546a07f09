// Evaluation returns its diagnostics instead of writing them into the call's context (issue 12 item 4): the
// pipeline puts them on the call's one log line (contract section 8), over HTTP with the real app and services.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import type { Bundle, MedicationRequest } from 'fhir/r4';
import request from 'supertest';
import { loadConfig } from '../src/config';
import { loadFixtureRequests } from '../src/dev/demo-fixtures';
import type { HookRequest } from '../src/hooks/types';
import { createLogger } from '../src/log';
import { createServiceApp } from '../src/server/service';
import { createFileStore } from '../src/store/file-store';
import type { SharedStore } from '../src/store/types';
import { BASE_URL, MMM, RECEIVED_AT, onlyAssessment, servicesOf } from './helpers/service-app';

const FULL = 'adult-relapsed-ph-neg-cycle1-stepup--full.json';
const fixture = loadFixtureRequests().find((f) => f.name.file === FULL)?.body as unknown as HookRequest;

let app: Express;
let store: SharedStore;
let dataDir: string;
const logged: string[] = [];

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-diagnostics-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    CDS_DATA_DIR: dataDir,
    CDS_PUBLIC_BASE_URL: BASE_URL,
    CDS_LOG_LEVEL: 'info',
  });
  store = await createFileStore({
    dataDir: config.dataDir,
    audit: config.audit,
    auditRetentionDays: config.auditRetentionDays,
  });
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void logged.push(line) } });
  app = createServiceApp(config, logger, store, servicesOf(), () => new Date(RECEIVED_AT));
});

afterAll(async () => {
  await store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function callLine(): Record<string, unknown> {
  const lines = logged
    .join('')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l['msg'] === 'service call');
  expect(lines).toHaveLength(1);
  return lines[0] as Record<string, unknown>;
}

test.each([MMM, 'blinatumomab-order-sign'])(
  '%s: a history order whose medication cannot be resolved is not counted, and the log line says so',
  async (serviceId) => {
    logged.length = 0;
    const body = structuredClone(fixture);
    const history: MedicationRequest = {
      resourceType: 'MedicationRequest',
      id: 'history-unresolved',
      status: 'completed',
      intent: 'order',
      subject: { reference: `Patient/${body.context.patientId}` },
      medicationReference: { reference: 'Medication/nowhere' },
    };
    (body.prefetch?.medicationRequests as Bundle).entry?.push({ resource: history });
    const res = await request(app).post(`/cds-services/${serviceId}`).send(body);
    expect(res.status).toBe(200);
    expect(onlyAssessment(res.body).authorization.cycle).toBe(1);
    const notes = callLine()['notes'] as string[];
    expect(notes).toContain(
      'MedicationRequest/history-unresolved (completed): its medication could not be resolved, so it is not counted as a prior cycle'
    );
  }
);
