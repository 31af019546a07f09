import { fillPrefetchTemplate } from './tokens';

const context = {
  patientId: 'pat-1',
  userId: 'Practitioner/prac-9',
  encounterId: 'enc-3',
  draftOrders: { resourceType: 'Bundle', type: 'collection' },
  flag: true,
  count: 3,
  empty: '',
};

describe('fillPrefetchTemplate', () => {
  it.each([
    ['Patient/{{context.patientId}}', 'Patient/pat-1'],
    ['Coverage?patient={{context.patientId}}&status=active', 'Coverage?patient=pat-1&status=active'],
    ['Encounter/{{ context.encounterId }}', 'Encounter/enc-3'],
    ['Practitioner/{{userPractitionerId}}', 'Practitioner/prac-9'],
    ['X?a={{context.flag}}&b={{context.count}}', 'X?a=true&b=3'],
    ['Condition?patient={{context.patientId}}', 'Condition?patient=pat-1'],
  ])('fills %s', (template, url) => {
    expect(fillPrefetchTemplate(template, context)).toEqual({ ok: true, url });
  });

  it('URL-encodes values so a context field cannot add path segments or parameters', () => {
    const result = fillPrefetchTemplate('Patient/{{context.patientId}}', { patientId: '../admin?x=1&y' });
    expect(result).toEqual({ ok: true, url: 'Patient/..%2Fadmin%3Fx%3D1%26y' });
  });

  it.each([
    ['Patient/{{context.draftOrders}}', 'an object field'],
    ['Patient/{{context.missing}}', 'an absent field'],
    ['Patient/{{context.empty}}', 'an empty string'],
    ['Patient/{{context.draftOrders.entry.resource.id}}', 'a path below the root'],
    ['PractitionerRole/{{userPractitionerRoleId}}', 'a user token for another kind of user'],
    ['Patient/{{somethingElse}}', 'an unknown token'],
    ['Observation?date=ge{{today() - 90 days}}', 'a date token without the call date'],
  ])('leaves %s unresolved (%s)', (template) => {
    const result = fillPrefetchTemplate(template, context);
    expect(result.ok).toBe(false);
  });

  it('names the unresolved tokens', () => {
    expect(fillPrefetchTemplate('A?x={{context.nope}}&p={{context.patientId}}', context)).toEqual({
      ok: false,
      unresolved: ['{{context.nope}}'],
    });
  });

  it('leaves a value that cannot be URL-encoded (a lone surrogate) unresolved instead of throwing', () => {
    expect(fillPrefetchTemplate('Patient/{{context.patientId}}', { patientId: '\ud800' })).toEqual({
      ok: false,
      unresolved: ['{{context.patientId}}'],
    });
  });

  it('resolves today() tokens from the call date, never the clock', () => {
    expect(fillPrefetchTemplate('Observation?date=ge{{today() - 90 days}}', context, { today: '2024-03-01' })).toEqual({
      ok: true,
      url: 'Observation?date=ge2023-12-02',
    });
    expect(fillPrefetchTemplate('X?d={{today()}}&e={{today() + 1 day}}', context, { today: '2024-02-28' })).toEqual({
      ok: true,
      url: 'X?d=2024-02-28&e=2024-02-29',
    });
  });

  it('tolerates a context that is not an object', () => {
    expect(fillPrefetchTemplate('Patient/{{context.patientId}}', null).ok).toBe(false);
  });
});
