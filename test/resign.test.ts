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

// Hand-made orders for the fixture patients: every kind of correction, in every bounds form, through the real
// pipeline; the card says what to change, the coverage information carries allowed-period exactly when the supply
// duration is wrong, and the corrected order signed again draws no correction card.
describe('hand-made orders on fixture patients', () => {
  const UCUM = 'http://unitsofmeasure.org';
  const fixtureBody = (file: string): HookRequest => {
    const fixture = fixtures.find((f) => f.name.file === file);
    if (!fixture) {
      throw new Error(`no fixture ${file}`);
    }
    return structuredClone(fixture.body) as unknown as HookRequest;
  };
  const draftOf = (body: HookRequest): MedicationRequest =>
    body.context.draftOrders.entry?.[0]?.resource as MedicationRequest;
  const ugPerDay = (
    value: number,
    days?: number,
    sequence?: number
  ): NonNullable<MedicationRequest['dosageInstruction']>[number] => ({
    ...(sequence !== undefined ? { sequence } : {}),
    ...(days !== undefined
      ? { timing: { repeat: { boundsDuration: { value: days, unit: 'd', system: UCUM, code: 'd' } } } }
      : {}),
    doseAndRate: [{ doseQuantity: { value, unit: 'mcg/day', system: UCUM, code: 'ug/d' } }],
  });
  const allowedPeriodOf = (response: CdsResponse): unknown => {
    const resource = response.systemActions?.[0]?.resource as MedicationRequest | undefined;
    const info = resource?.extension?.find((e) => e.url.endsWith('ext-coverage-information'));
    const detail = info?.extension?.find(
      (d) =>
        d.url === 'detail' &&
        d.extension?.some((s) => s.url === 'code' && s.valueCodeableConcept?.coding?.[0]?.code === 'allowed-period')
    );
    return detail?.extension?.find((s) => s.url === 'value')?.valuePeriod;
  };

  interface Variant {
    name: string;
    file: string;
    order: (draft: MedicationRequest) => MedicationRequest;
    /** Rewrites the request's other data (the prefetch), when the variant needs it. */
    data?: (body: HookRequest) => void;
    summary: string[];
    label: string;
    detail?: string[];
    allowedPeriod?: { start: string; end: string };
    dosage: Array<{ value: number; days?: number; start?: string; end?: string }>;
    quantity?: { value: number; code: string };
  }

  const variants: Variant[] = [
    {
      name: 'adult, 28 mcg/day for 28 d, 1000 ug, no supply duration',
      file: 'adult-over-quantity--full.json',
      order: (d) => ({
        ...d,
        dosageInstruction: [ugPerDay(28, 28)],
        dispenseRequest: { quantity: { value: 1000, unit: 'ug', system: UCUM, code: 'ug' } },
      }),
      summary: ['9 mcg/day on days 1–7, then 28 mcg/day on days 8–28', '28 vials (980 mcg) per cycle', '42-day supply'],
      label: 'Apply the corrected dose, quantity and supply duration',
      // Without bounds the planned start is authoredOn (contract section 4).
      allowedPeriod: { start: '2026-11-22', end: '2027-01-02' },
      dosage: [
        { value: 9, days: 7 },
        { value: 28, days: 21 },
      ],
      quantity: { value: 28, code: '{vial}' },
    },
    {
      name: 'adult, step-up without bounds (planned start = authoredOn 2026-11-22), only the quantity over',
      file: 'adult-over-quantity--full.json',
      order: (d) => ({
        ...d,
        dosageInstruction: [ugPerDay(28)],
        dispenseRequest: {
          quantity: { value: 30, unit: 'vial', system: UCUM, code: '{vial}' },
          expectedSupplyDuration: { value: 42, unit: 'days', system: UCUM, code: 'd' },
        },
      }),
      summary: ['9 mcg/day on days 1–7', '28 vials'],
      label: 'Apply the corrected dose and quantity',
      dosage: [
        { value: 9, days: 7 },
        { value: 28, days: 21 },
      ],
      quantity: { value: 28, code: '{vial}' },
    },
    {
      name: 'adult, right doses, supply duration of 28 d only',
      file: 'adult-over-quantity--full.json',
      order: (d) => ({
        ...d,
        dispenseRequest: {
          quantity: { value: 28, unit: 'vial', system: UCUM, code: '{vial}' },
          expectedSupplyDuration: { value: 28, unit: 'd', system: UCUM, code: 'd' },
        },
      }),
      summary: ['42-day supply'],
      label: 'Apply the corrected supply duration',
      allowedPeriod: { start: '2026-11-30', end: '2027-01-10' },
      dosage: [
        { value: 9, start: '2026-11-30', end: '2026-12-06' },
        { value: 28, start: '2026-12-07', end: '2026-12-27' },
      ],
      quantity: { value: 28, code: '{vial}' },
    },
    {
      name: 'adult weight charted with markdown and HTML in its unit text: escaped in the arithmetic',
      file: 'adult-over-quantity--full.json',
      data: (body) => {
        const entries = (body.prefetch?.observations as { entry?: Array<{ resource?: Record<string, unknown> }> })
          .entry;
        const weight = entries?.find((e) => e.resource?.id === 'overqty-weight')?.resource;
        if (!weight) {
          throw new Error('no weight in the fixture');
        }
        weight.valueQuantity = {
          value: 92,
          unit: '**kg** [x](https://evil.example/) <img src=x onerror=alert(1)> | _y_',
          system: UCUM,
          code: 'kg',
        };
      },
      order: (d) => d,
      summary: ['28 vials'],
      label: 'Apply the corrected quantity and supply duration',
      // Escaped, and the URL broken so that no renderer links it (it still reads https://evil.example/).
      detail: ['charted 92 \\*\\*kg\\*\\* \\[x\\](https\\:\\/\\/evil\\.example/) &lt;img src=x onerror=alert(1)&gt;'],
      allowedPeriod: { start: '2026-11-30', end: '2027-01-10' },
      dosage: [
        { value: 9, start: '2026-11-30', end: '2026-12-06' },
        { value: 28, start: '2026-12-07', end: '2026-12-27' },
      ],
      quantity: { value: 28, code: '{vial}' },
    },
    {
      name: 'child 30 kg (BSA 1.04) ordered the adult step-up in periods',
      file: 'child-relapsed-cycle1-flat-dose--full.json',
      order: (d) => ({
        ...d,
        dosageInstruction: [
          {
            ...ugPerDay(9, undefined, 1),
            timing: { repeat: { boundsPeriod: { start: '2026-11-30', end: '2026-12-06' } } },
          },
          {
            ...ugPerDay(28, undefined, 2),
            timing: { repeat: { boundsPeriod: { start: '2026-12-07', end: '2026-12-27' } } },
          },
        ],
      }),
      summary: ['5.2 mcg/day on days 1–7, then 15.6 mcg/day on days 8–28'],
      label: 'Apply the corrected dose',
      detail: ['5 mcg/m²/day × 1.04 m² = 5.2', '15 mcg/m²/day × 1.04 m² = 15.6', 'BSA used: 1.04 m², charted'],
      dosage: [
        { value: 5.2, start: '2026-11-30', end: '2026-12-06' },
        { value: 15.6, start: '2026-12-07', end: '2026-12-27' },
      ],
    },
  ];

  it.each(variants.map((v) => [v.name, v] as const))('%s', async (_name, variant) => {
    for (const serviceId of SERVICE_IDS) {
      const body = fixtureBody(variant.file);
      variant.data?.(body);
      const order = variant.order(draftOf(body));
      const sent = withDraftOrder(body, 0, order);
      const first = await sign(serviceId, sent);
      const cards = correctionCards(first);
      expect(cards).toHaveLength(1);
      const card = cards[0]!;
      expect(card.indicator).toBe('warning');
      expect(card.selectionBehavior).toBe('at-most-one');
      expect(card.summary.length).toBeLessThan(140);
      for (const text of variant.summary) {
        expect(card.summary).toContain(text);
      }
      for (const text of variant.detail ?? []) {
        expect(card.detail).toContain(text);
      }
      expect(card.detail).not.toMatch(/<img|(?<!\\)\*\*kg|(?<!\\)\]\(https:\/\/evil/);
      expect(card.suggestions).toHaveLength(1);
      const suggestion = card.suggestions![0]!;
      expect(suggestion.label).toBe(variant.label);
      expect(suggestion.isRecommended).toBe(true);
      expect(suggestion.actions?.map((a) => a.type)).toEqual(['update']);
      // Dose-check cards only when there is no correction card.
      expect(first.cards.filter((c) => c.source.topic?.code === 'limits')).toHaveLength(1);
      expect(allowedPeriodOf(first)).toEqual(variant.allowedPeriod);

      const fixed = suggestion.actions![0]!.resource as MedicationRequest;
      expect(fixed.authoredOn).toBe(order.authoredOn);
      expect(fixed.extension ?? []).toEqual(
        (order.extension ?? []).filter((e) => !e.url.endsWith('coverage-information'))
      );
      const dosage = (fixed.dosageInstruction ?? []).map((d) => {
        const q = d.doseAndRate?.[0]?.doseQuantity;
        const repeat = d.timing?.repeat;
        return {
          value: q?.value,
          ...(repeat?.boundsDuration ? { days: repeat.boundsDuration.value } : {}),
          ...(repeat?.boundsPeriod ? { start: repeat.boundsPeriod.start, end: repeat.boundsPeriod.end } : {}),
        };
      });
      expect(dosage).toEqual(variant.dosage);
      if (variant.quantity) {
        expect(fixed.dispenseRequest?.quantity).toMatchObject(variant.quantity);
      }

      const again = await sign(serviceId, withDraftOrder(sent, 0, fixed));
      expect(correctionCards(again)).toEqual([]);
      expect(allowedPeriodOf(again)).toBeUndefined();
      expect(coverageCards(again).map(assessmentOf)).toEqual(coverageCards(first).map(assessmentOf));
    }
  });
});
