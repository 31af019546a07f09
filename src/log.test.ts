import type { CallContext } from './hooks/types';
import { createLogger, logCall, summarizeResponse } from './log';

function capture(): { lines: () => Array<Record<string, unknown>>; text: () => string; write: (s: string) => void } {
  const chunks: string[] = [];
  return {
    write: (s: string) => void chunks.push(s),
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const ctx: CallContext = {
  serviceId: 'svc',
  hookInstance: 'hi-1',
  receivedAt: new Date('2024-06-01T00:00:00Z'),
  receivedDate: '2024-06-01',
  deadline: 0,
  timings: { governance: 1.23456, gather: 10 },
  errors: [{ where: 'criterion cd19-positive', message: 'expression failed' }],
  notes: ['history order MedicationRequest/h1 has an unresolved medication'],
};

describe('log', () => {
  it('redacts authorization headers and tokens wherever a caller puts them', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out });
    logger.info({ req: { headers: { authorization: 'Bearer aaa.bbb.ccc' } } }, 'x');
    logger.info({ headers: { authorization: 'Bearer ddd.eee.fff' }, access_token: 'tok-1' }, 'y');
    logger.info({ request: { fhirAuthorization: { access_token: 'tok-2' } } }, 'z');
    logger.info({ token: 'tok-3', jwt: 'ggg.hhh.iii' }, 'w');
    for (const secret of ['aaa.bbb.ccc', 'ddd.eee.fff', 'tok-1', 'tok-2', 'tok-3', 'ggg.hhh.iii']) {
      expect(out.text()).not.toContain(secret);
    }
    expect(out.lines()).toHaveLength(4);
  });

  it('is silent at level silent', () => {
    const out = capture();
    createLogger({ level: 'silent', destination: out }).error('nothing');
    expect(out.text()).toBe('');
  });

  it('writes one call line with identifiers, counts, rounded timings, errors and notes', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out });
    logCall(logger, {
      kind: 'service',
      serviceId: 'svc',
      method: 'POST',
      path: '/cds-services/svc',
      status: 200,
      durationMs: 12.3456,
      ctx,
      outcome: { cards: 3, governedOrders: 1, systemActions: 1 },
      iss: 'https://ehr.example.org',
      jti: 'j-1',
    });
    const [line] = out.lines();
    expect(line).toMatchObject({
      level: 'info',
      msg: 'service call',
      serviceId: 'svc',
      hookInstance: 'hi-1',
      status: 200,
      durationMs: 12.3,
      outcome: { cards: 3, governedOrders: 1, systemActions: 1 },
      timings: { governance: 1.2, gather: 10 },
      errors: ctx.errors,
      notes: ctx.notes,
      iss: 'https://ehr.example.org',
      jti: 'j-1',
    });
  });

  it('counts what was dropped because it names another patient, and says nothing of it otherwise', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out });
    const entry = { kind: 'service' as const, serviceId: 'svc', method: 'POST', path: '/x', status: 200, durationMs: 1 };
    logCall(logger, { ...entry, ctx: { ...ctx, otherPatient: { resources: 3, draftOrders: 1 } } });
    logCall(logger, { ...entry, ctx });
    const [first, second] = out.lines();
    expect(first!['otherPatient']).toEqual({ resources: 3, draftOrders: 1 });
    expect(second).not.toHaveProperty('otherPatient');
  });

  it('logs a 5xx call at error level and clips long client identifiers', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out });
    logCall(logger, {
      kind: 'service',
      serviceId: 'svc',
      method: 'POST',
      path: '/cds-services/svc',
      status: 500,
      durationMs: 1,
      errorCodes: ['internal'],
      ctx: { ...ctx, hookInstance: 'h'.repeat(5000) },
    });
    const [line] = out.lines();
    expect(line!['level']).toBe('error');
    expect((line!['hookInstance'] as string).length).toBeLessThan(250);
  });

  it('counts cards, coverage cards as governed orders, and system actions', () => {
    const response = {
      cards: [{ extension: { 'coverage-assessment': {} } }, { extension: { 'coverage-assessment': {} } }, {}],
      systemActions: [{}, {}],
    };
    expect(summarizeResponse(response)).toEqual({ cards: 3, governedOrders: 2, systemActions: 2 });
    expect(summarizeResponse({ cards: [] })).toEqual({ cards: 0, governedOrders: 0, systemActions: 0 });
    expect(summarizeResponse('odd')).toEqual({ cards: 0, governedOrders: 0, systemActions: 0 });
    // The pipeline's own count wins (coverage cards can be switched off or cut by max-cards).
    expect(summarizeResponse({ cards: [] }, { ...ctx, governedOrders: 2 })).toEqual({
      cards: 0,
      governedOrders: 2,
      systemActions: 0,
    });
  });
});
