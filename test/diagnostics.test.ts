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
import * as assess from '../src/dosing/assess';
import { createLogger } from '../src/log';
import { createServiceApp } from '../src/server/service';
import { createFileStore } from '../src/store/file-store';
import type { SharedStore } from '../src/store/types';
import { BASE_URL, MMM, RECEIVED_AT, onlyAssessment, servicesOf, topicOf } from './helpers/service-app';

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

describe('a bug of the dose check', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  test.each([MMM, 'blinatumomab-order-sign'])(
    '%s: is a logged error and a dose-check card saying the dose could not be checked; the likelihood stands',
    async (serviceId) => {
      const baseline = await request(app).post(`/cds-services/${serviceId}`).send(fixture);
      expect(baseline.status).toBe(200);
      // A bug cannot be written into real data on purpose: the dose check is made to throw as a bug would.
      jest.spyOn(assess, 'assessDose').mockImplementation(() => {
        throw new TypeError("Cannot read properties of undefined (reading 'cycles')");
      });
      logged.length = 0;
      const res = await request(app).post(`/cds-services/${serviceId}`).send(fixture);
      expect(res.status).toBe(200);
      expect(onlyAssessment(res.body).likelihood).toBe(onlyAssessment(baseline.body).likelihood);
      const limits = (res.body.cards as Array<{ summary: string; detail: string; indicator: string }>).filter(
        (c) => topicOf(c as never) === 'limits'
      );
      expect(limits).toHaveLength(1);
      expect(limits[0]?.summary).toMatch(/: dose not checked: check the dose by hand$/);
      expect(limits[0]?.detail).toContain('could not be checked automatically');
      expect(limits[0]?.indicator).toBe('warning');
      expect(callLine()['errors']).toEqual([
        { where: 'dose', message: "Cannot read properties of undefined (reading 'cycles')" },
      ]);
    }
  );
});
