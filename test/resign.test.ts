// Contract section 6: applying a correction card's suggestion and signing again yields no correction card, and the
// coverage assessment does not move (dose and quantity never change the likelihood). Every fixture request whose
// response carries a correction card, for both services, over HTTP with the real pipeline; the partial, none and
// sandbox requests go through the fallback against an embedded FHIR server.
import type { MedicationRequest } from 'fhir/r4';
import request from 'supertest';
import type { CdsResponse, HookRequest } from '../src/hooks/types';
import type { RunningFhirServer } from '../src/dev/fhir-server';
import { loadFixtureRequests, pointAtFhirServer, readManifest, type FixtureRequest } from '../src/dev/demo-fixtures';
import { assertCardRules } from './card-rules';
import {
  SERVICE_IDS,
  assessmentOf,
  buildServiceApp,
  correctionCards,
  coverageCards,
  startFhirServerWith,
  withDraftOrder,
  type ServiceApp,
} from './helpers/service-app';

interface Corrected {
  file: string;
  serviceId: string;
  sent: HookRequest;
  first: CdsResponse;
}

const fixtures = loadFixtureRequests({ manifest: readManifest() });
let h: ServiceApp;
const corrected: Corrected[] = [];
const servers: RunningFhirServer[] = [];

async function sign(serviceId: string, body: HookRequest): Promise<CdsResponse> {
  const res = await request(h.app).post(`/cds-services/${serviceId}`).send(body);
  if (res.status !== 200) {
    throw new Error(`${serviceId} answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  assertCardRules(res.body as CdsResponse, body);
  return res.body as CdsResponse;
}

beforeAll(async () => {
  h = await buildServiceApp();
  const send = async (fixture: FixtureRequest, serviceId: string, fhirUrl: string): Promise<Corrected> => {
    const sent = pointAtFhirServer(fixture.body, fhirUrl) as unknown as HookRequest;
    return { file: fixture.name.file, serviceId, sent, first: await sign(serviceId, sent) };
  };
  // The full requests need no FHIR server and show which stories get a correction; then every variant of those,
  // against a FHIR server holding the story's bundles.
  const stories = new Set<string>();
  for (const fixture of fixtures.filter((f) => f.name.variant === 'full')) {
    for (const serviceId of SERVICE_IDS) {
      const call = await send(fixture, serviceId, 'http://fhir.invalid/fhir');
      if (correctionCards(call.first).length > 0) {
        corrected.push(call);
        stories.add(fixture.story);
      }
    }
  }
  for (const fixture of fixtures.filter((f) => f.name.variant !== 'full' && stories.has(f.story))) {
    // Kept running: signing again fetches again.
    const fhir = await startFhirServerWith(fixture.manifest?.bundles ?? []);
    servers.push(fhir);
    for (const serviceId of SERVICE_IDS) {
      const call = await send(fixture, serviceId, fhir.url);
      if (correctionCards(call.first).length > 0) {
        corrected.push(call);
      }
    }
  }
}, 60000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await h?.close();
});

test('some fixture responses carry a correction card (dose, quantity and supply duration stories)', () => {
  const files = new Set(corrected.map((c) => c.file));
  expect(files).toContain('child-relapsed-cycle1-flat-dose--full.json');
  expect(files).toContain('adult-over-quantity--full.json');
  expect(files).toContain('adult-over-quantity--none.json');
  // Both services see the same dose findings.
  for (const file of files) {
    expect(corrected.filter((c) => c.file === file).map((c) => c.serviceId)).toEqual([...SERVICE_IDS]);
  }
});

describe('applying the correction and signing again', () => {
  it.each(SERVICE_IDS.map((id) => [id] as const))(
    '%s: no correction card, same coverage assessment, the order otherwise unchanged',
    async (serviceId) => {
      const calls = corrected.filter((c) => c.serviceId === serviceId);
      expect(calls.length).toBeGreaterThan(0);
      for (const call of calls) {
        const cards = correctionCards(call.first);
        expect({ file: call.file, cards: cards.length }).toEqual({ file: call.file, cards: 1 });
        const suggestion = cards[0]?.suggestions?.[0];
        const actions = suggestion?.actions ?? [];
        expect(actions.map((a) => a.type)).toEqual(['update']);
        const fixed = actions[0]?.resource as MedicationRequest;
        const entries = call.sent.context.draftOrders.entry ?? [];
        const index = entries.findIndex((e) => e.resource?.id === fixed.id);
        expect({ file: call.file, index: index >= 0 }).toEqual({ file: call.file, index: true });
        const draft = entries[index]?.resource as MedicationRequest;
        // What a correction never touches.
        expect({ file: call.file, id: fixed.id, authoredOn: fixed.authoredOn, status: fixed.status }).toEqual({
          file: call.file,
          id: draft.id,
          authoredOn: draft.authoredOn,
          status: draft.status,
        });
        expect(fixed.medicationCodeableConcept ?? fixed.medicationReference).toEqual(
          draft.medicationCodeableConcept ?? draft.medicationReference
        );

        const again = await sign(serviceId, withDraftOrder(call.sent, index, fixed));
        expect({ file: call.file, corrections: correctionCards(again).map((c) => c.summary) }).toEqual({
          file: call.file,
          corrections: [],
        });
        expect({ file: call.file, assessments: coverageCards(again).map(assessmentOf) }).toEqual({
          file: call.file,
          assessments: coverageCards(call.first).map(assessmentOf),
        });
      }
    }
  );
});
