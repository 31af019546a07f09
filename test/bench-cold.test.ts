// The benchmark's cold calls (issue 12 item 7, src/dev/bench-cold.ts): every body differs from every other in what
// the decision reads (patient, order, hookInstance, birth date, weight), and the real service answers each one as it
// answers the request they come from.
import request from 'supertest';
import { coldBodies } from '../src/dev/bench-cold';
import { readFixtureRequest, withRealisticHistory } from '../src/dev/bench-requests';
import type { CdsResponse } from '../src/hooks/types';
import { MMM, assessmentOf, buildServiceApp, type ServiceApp } from './helpers/service-app';

type Json = Record<string, unknown>;

const full = withRealisticHistory(readFixtureRequest('adult-relapsed-ph-neg-cycle1-stepup--full.json'));

let served: ServiceApp;
beforeAll(async () => {
  served = await buildServiceApp();
});
afterAll(async () => {
  await served.close();
});

function summary(response: CdsResponse): string[] {
  return response.cards.map((c) => {
    const a = assessmentOf(c);
    return a ? `${a.likelihood}/${a.pathway ?? '-'}` : c.summary;
  });
}

function weightsOf(body: Json): number[] {
  return JSON.stringify(body.prefetch)
    .match(/"value":[\d.]+,"unit":"kg"/g)!
    .map((m) => Number(/[\d.]+/.exec(m)![0]));
}

describe('cold bodies', () => {
  const cold = coldBodies(full, 'seed1');

  it('differ in patient, order, hookInstance, birth date and weight from one body to the next', () => {
    const seen = {
      patient: new Set<string>(),
      hook: new Set<string>(),
      birth: new Set<string>(),
      text: new Set<string>(),
    };
    for (let n = 0; n < 40; n += 1) {
      const text = cold.at(n);
      const body = JSON.parse(text) as Json;
      const context = body.context as { patientId: string; draftOrders: { entry: Array<{ resource: Json }> } };
      seen.patient.add(context.patientId);
      seen.hook.add(String(body.hookInstance));
      seen.birth.add(/"birthDate":"([^"]+)"/.exec(text)![1]!);
      seen.text.add(text);
      // The patient id is replaced everywhere: no resource keeps the original's.
      expect(text).not.toMatch(/relapsed-patient"/);
      expect(context.draftOrders.entry[0]!.resource['subject']).toEqual({ reference: `Patient/${context.patientId}` });
      expect(String(body.hookInstance)).toMatch(/^[0-9a-z]+-0000-4000-8000-[0-9a-f]{12}$/);
    }
    expect(seen.patient.size).toBe(40);
    expect(seen.hook.size).toBe(40);
    expect(seen.birth.size).toBe(40);
    expect(seen.text.size).toBe(40);
    const w0 = weightsOf(JSON.parse(cold.at(0)) as Json);
    const w1 = weightsOf(JSON.parse(cold.at(1)) as Json);
    expect(w0).not.toEqual(w1);
    expect(weightsOf(full)).toContain(62);
    expect(w1).not.toContain(62);
    // Another run's bodies are other patients again.
    expect(coldBodies(full, 'seed2').at(0)).not.toBe(cold.at(0));
    expect(cold.next()).toBe(cold.at(0));
    expect(cold.next()).toBe(cold.at(1));
  });

  it('are each answered by the service as the request they come from', async () => {
    const post = (body: string) =>
      request(served.app).post(`/cds-services/${MMM}`).set('content-type', 'application/json').send(body);
    const original = await post(JSON.stringify(full));
    expect(original.status).toBe(200);
    const expected = summary(original.body as CdsResponse);
    expect(expected.some((s) => s.includes('/'))).toBe(true);
    for (const n of [0, 1, 2, 137, 499]) {
      const res = await post(cold.at(n));
      expect(res.status).toBe(200);
      expect(summary(res.body as CdsResponse)).toEqual(expected);
    }
  });
});
