// Feedback (https://cds-hooks.hl7.org/2.0/#feedback; contract sections 3 and 8; checklist F-1..F-4).
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { ERROR_SYSTEM } from '../src/errors';
import { makeHarness, readAudit, type Harness } from './helpers/fake-http-deps';
import { buildServiceApp, MMM, SINGLE_AGENT, type ServiceApp } from './helpers/service-app';

const PATH = '/cds-services/svc-a/feedback';

const accepted = {
  card: '9368d37b-283f-44a0-93ea-547cebab93ed',
  outcome: 'accepted',
  acceptedSuggestions: [{ id: 'e56e1945-20b3-4393-8503-a1a20fd73152' }],
  outcomeTimestamp: '2024-06-01T10:15:30Z',
};
const overridden = {
  card: '4a1e7b3c-0000-4000-8000-000000000001',
  outcome: 'overridden',
  overrideReason: {
    reason: {
      code: 'reason-code-provided-by-service',
      system: 'http://example.org/cds-services/fhir/CodeSystem/override-reasons',
    },
    userComment: 'Patient refused',
  },
  outcomeTimestamp: '2024-06-01T10:16:00.123+02:00',
};

function storedFiles(h: Harness, serviceId = 'svc-a'): string[] {
  const dir = path.join(h.dataDir, 'feedback', serviceId);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
}

/** The services of these fakes issued the cards the feedback names (the real app's are below). */
async function issued(h: Harness): Promise<Harness> {
  await h.store.rememberCards('svc-a', [accepted.card, overridden.card]);
  await h.store.rememberCards('svc-b', [accepted.card]);
  return h;
}

describe('POST /cds-services/:id/feedback', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await issued(await makeHarness());
  });
  afterEach(() => h.close());

  it('stores accepted and overridden feedback and answers 200 {}', async () => {
    const res = await request(h.app)
      .post(PATH)
      .send({ feedback: [accepted, overridden] });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.text).toBe('{}');
    const files = storedFiles(h);
    expect(files).toHaveLength(2);
    const items = files.map(
      (f) => JSON.parse(fs.readFileSync(path.join(h.dataDir, 'feedback', 'svc-a', f), 'utf8')) as { item: unknown }
    );
    expect(items.map((i) => i.item)).toEqual(expect.arrayContaining([accepted, overridden]));
  });

  it('stores the same card, outcome and timestamp once, within a call and across calls', async () => {
    await request(h.app)
      .post(PATH)
      .send({ feedback: [accepted, accepted] })
      .expect(200);
    await request(h.app)
      .post(PATH)
      .send({ feedback: [accepted] })
      .expect(200);
    expect(storedFiles(h)).toHaveLength(1);
    // A different timestamp is another piece of feedback.
    await request(h.app)
      .post(PATH)
      .send({ feedback: [{ ...accepted, outcomeTimestamp: '2024-06-01T10:20:00Z' }] })
      .expect(200);
    expect(storedFiles(h)).toHaveLength(2);
    const line = h.logs().filter((l) => l['msg'] === 'feedback call');
    expect(line.map((l) => l['feedback'])).toEqual([
      { received: 2, stored: 1 },
      { received: 1, stored: 0 },
      { received: 1, stored: 1 },
    ]);
  });

  it('stores feedback per service', async () => {
    await request(h.app)
      .post(PATH)
      .send({ feedback: [accepted] })
      .expect(200);
    await request(h.app)
      .post('/cds-services/svc-b/feedback')
      .send({ feedback: [accepted] })
      .expect(200);
    expect(storedFiles(h, 'svc-a')).toHaveLength(1);
    expect(storedFiles(h, 'svc-b')).toHaveLength(1);
  });

  it('accepts an empty feedback list', async () => {
    await request(h.app).post(PATH).send({ feedback: [] }).expect(200);
    expect(storedFiles(h)).toHaveLength(0);
  });

  it('404 for an unknown service', async () => {
    const res = await request(h.app)
      .post('/cds-services/nope/feedback')
      .send({ feedback: [accepted] });
    expect(res.status).toBe(404);
    expect(res.body.issue[0].details.coding[0].code).toBe('unknown-service');
  });

  it('415 and 400 invalid-json as for service calls', async () => {
    const a = await request(h.app).post(PATH).set('Content-Type', 'text/plain').send('{}');
    expect(a.status).toBe(415);
    const b = await request(h.app).post(PATH).set('Content-Type', 'application/json').send('{"feedback": [');
    expect(b.status).toBe(400);
    expect(b.body.issue[0].details.coding[0].code).toBe('invalid-json');
  });

  const bad: Array<[string, unknown, string | undefined]> = [
    ['no feedback member', { cards: [] }, 'feedback'],
    ['feedback not an array', { feedback: accepted }, 'feedback'],
    ['an item not an object', { feedback: [accepted, 'x'] }, 'feedback[1]'],
    ['card missing', { feedback: [{ ...overridden, card: undefined }] }, 'feedback[0].card'],
    ['card not a string', { feedback: [{ ...overridden, card: 5 }] }, 'feedback[0].card'],
    [
      'outcome not in the list',
      { feedback: [accepted, overridden, { ...overridden, outcome: 'ignored' }] },
      'feedback[2].outcome',
    ],
    [
      'outcomeTimestamp missing',
      { feedback: [{ ...overridden, outcomeTimestamp: undefined }] },
      'feedback[0].outcomeTimestamp',
    ],
    [
      'outcomeTimestamp not RFC 3339',
      { feedback: [{ ...overridden, outcomeTimestamp: '01/06/2024 10:00' }] },
      'feedback[0].outcomeTimestamp',
    ],
    [
      'outcomeTimestamp without a zone',
      { feedback: [{ ...overridden, outcomeTimestamp: '2024-06-01T10:00:00' }] },
      'feedback[0].outcomeTimestamp',
    ],
    [
      'accepted without acceptedSuggestions',
      { feedback: [overridden, { ...accepted, acceptedSuggestions: undefined }] },
      'feedback[1].acceptedSuggestions',
    ],
    [
      'acceptedSuggestions empty',
      { feedback: [{ ...accepted, acceptedSuggestions: [] }] },
      'feedback[0].acceptedSuggestions',
    ],
    [
      'acceptedSuggestions without id',
      { feedback: [{ ...accepted, acceptedSuggestions: [{ uuid: 'x' }] }] },
      'feedback[0].acceptedSuggestions[0].id',
    ],
    [
      'overrideReason not an object',
      { feedback: [{ ...overridden, overrideReason: 'because' }] },
      'feedback[0].overrideReason',
    ],
    ['a body that is not an object', [accepted], undefined],
  ];
  it.each(bad)('400 invalid-feedback: %s', async (_name, body, expression) => {
    const res = await request(h.app).post(PATH).set('Content-Type', 'application/json').send(JSON.stringify(body));
    expect(res.status).toBe(400);
    expect(res.body.issue).toHaveLength(1);
    const issue = res.body.issue[0];
    expect(issue.code).toBe('invalid');
    expect(issue.details.coding).toEqual([{ system: ERROR_SYSTEM, code: 'invalid-feedback' }]);
    expect(issue.expression).toEqual(expression === undefined ? undefined : [expression]);
    expect(storedFiles(h)).toHaveLength(0);
  });

  it('is audited when auditing is on', async () => {
    const audited = await issued(await makeHarness({ env: { CDS_AUDIT: 'on' } }));
    await request(audited.app)
      .post(PATH)
      .send({ feedback: [overridden] })
      .expect(200);
    const records = await readAudit(audited);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      kind: 'feedback',
      serviceId: 'svc-a',
      request: { body: { feedback: [overridden] } },
      response: { status: 200, body: {} },
    });
    await audited.close();
  });
});

// Feedback bounds (contract section 8): at most 100 items a call, and only on cards this service issued, with the real
// application and the cards its own answers carry.
describe('feedback on the cards a service issued', () => {
  const FIXTURE = path.resolve(
    __dirname,
    '..',
    'fixtures',
    'fhir',
    'requests',
    'adult-relapsed-ph-neg-cycle1-stepup--full.json'
  );
  let e: ServiceApp;
  beforeEach(async () => {
    e = await buildServiceApp();
  });
  afterEach(() => e.close());

  async function cardsFrom(serviceId: string): Promise<string[]> {
    const res = await request(e.app)
      .post(`/cds-services/${serviceId}`)
      .set('Content-Type', 'application/json')
      .send(fs.readFileSync(FIXTURE, 'utf8'));
    expect(res.status).toBe(200);
    const uuids = (res.body as { cards: Array<{ uuid: string }> }).cards.map((c) => c.uuid);
    expect(uuids.length).toBeGreaterThan(0);
    return uuids;
  }

  function item(card: string, second = 0): Record<string, unknown> {
    return {
      card,
      outcome: 'overridden',
      outcomeTimestamp: new Date(Date.UTC(2026, 10, 22, 10, 0, second)).toISOString(),
    };
  }

  function feedback(serviceId: string, items: unknown[]): request.Test {
    return request(e.app).post(`/cds-services/${serviceId}/feedback`).send({ feedback: items });
  }

  function stored(serviceId: string): number {
    const dir = path.join(e.dataDir, 'feedback', serviceId);
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).length : 0;
  }

  function unknownCards(res: request.Response): unknown[] {
    expect(res.status).toBe(400);
    const body = res.body as { issue: Array<{ code: string; details: unknown; expression?: string[] }> };
    for (const issue of body.issue) {
      expect(issue.code).toBe('not-found');
      expect(issue.details).toEqual({ coding: [{ system: ERROR_SYSTEM, code: 'unknown-card' }] });
    }
    return body.issue.map((i) => i.expression);
  }

  it('accepts feedback on every card an answer carried', async () => {
    const cards = await cardsFrom(MMM);
    await feedback(
      MMM,
      cards.map((c) => item(c))
    ).expect(200, '{}');
    expect(stored(MMM)).toBe(cards.length);
  });

  it('400 unknown-card for a card never issued, naming each such item, and stores none of the call', async () => {
    const [card] = await cardsFrom(MMM);
    const never = '5b4c0a4e-0000-4000-8000-000000000001';
    expect(unknownCards(await feedback(MMM, [item(never)]))).toEqual([['feedback[0].card']]);
    expect(unknownCards(await feedback(MMM, [item(card!), item(never, 1), item(card!, 2), item('x', 3)]))).toEqual([
      ['feedback[1].card'],
      ['feedback[3].card'],
    ]);
    expect(stored(MMM)).toBe(0);
  });

  it('checks the card per service: a card of one service is unknown to the others', async () => {
    const [card] = await cardsFrom(MMM);
    expect(unknownCards(await feedback(SINGLE_AGENT, [item(card!)]))).toEqual([['feedback[0].card']]);
    expect(unknownCards(await feedback('blinatumomab-order-sign', [item(card!)]))).toEqual([['feedback[0].card']]);
    // The routed service remembers the cards it issued itself.
    const [routed] = await cardsFrom('blinatumomab-order-sign');
    await feedback('blinatumomab-order-sign', [item(routed!)]).expect(200);
    expect(unknownCards(await feedback(MMM, [item(routed!)]))).toEqual([['feedback[0].card']]);
  });

  it('400 invalid-feedback for more than 100 items in one call; 100 are accepted', async () => {
    const [card] = await cardsFrom(MMM);
    const many = Array.from({ length: 101 }, (_, i) => ({
      ...item(card!),
      outcomeTimestamp: new Date(Date.UTC(2026, 10, 22, 10, 0, 0, i)).toISOString(),
    }));
    const res = await feedback(MMM, many);
    expect(res.status).toBe(400);
    expect(res.body.issue).toHaveLength(1);
    expect(res.body.issue[0]).toMatchObject({
      code: 'invalid',
      details: { coding: [{ system: ERROR_SYSTEM, code: 'invalid-feedback' }] },
      expression: ['feedback'],
    });
    expect(res.body.issue[0].diagnostics).toMatch(/at most 100/);
    expect(stored(MMM)).toBe(0);
    await feedback(MMM, many.slice(0, 100)).expect(200);
    expect(stored(MMM)).toBe(100);
  });
});

describe('feedback when the store cannot answer', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await makeHarness();
  });
  afterEach(() => h.close());

  it('answers 503 audit-unavailable (never a 500) when the issued cards cannot be read, and logs why', async () => {
    // The service's card folder is a file: every lookup under it fails with ENOTDIR.
    fs.writeFileSync(path.join(h.dataDir, 'cards', 'svc-a'), 'not a folder');
    const res = await request(h.app)
      .post(PATH)
      .send({ feedback: [accepted] });
    expect(res.status).toBe(503);
    expect(res.body.issue[0].details.coding[0]).toEqual({ system: ERROR_SYSTEM, code: 'audit-unavailable' });
    expect(h.logs().some((l) => l['msg'] === 'feedback store failed')).toBe(true);
    expect(storedFiles(h)).toEqual([]);
  });

  it('answers 503 audit-unavailable when the feedback cannot be stored', async () => {
    await h.store.rememberCards('svc-a', [accepted.card]);
    // The service's feedback folder is a file: the item cannot be written.
    fs.writeFileSync(path.join(h.dataDir, 'feedback', 'svc-a'), 'not a folder');
    const res = await request(h.app)
      .post(PATH)
      .send({ feedback: [accepted] });
    expect(res.status).toBe(503);
    expect(res.body.issue[0].details.coding[0]).toEqual({ system: ERROR_SYSTEM, code: 'audit-unavailable' });
    expect(h.logs().some((l) => l['msg'] === 'feedback store failed')).toBe(true);
  });
});
