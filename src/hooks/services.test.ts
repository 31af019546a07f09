import * as path from 'node:path';
import { loadServices } from '../policy/load';
import type { LoadedService } from '../policy/types';
import { buildCdsServices, policyServiceId, routedPrefetch, routedServiceId } from './services';

const policies = loadServices(path.resolve(__dirname, '..', '..', 'cds-services'));
function policy(id: string): LoadedService {
  const found = policies.find((p) => p.id === id);
  if (!found) {
    throw new Error(`no policy ${id}`);
  }
  return found;
}
const mmm = policy('blinatumomab-mmm');
const single = policy('blinatumomab-single-agent');
const label = policy('blinatumomab-label-current');

/** A policy like `base` under another id, with its prefetch changed. */
function variant(
  base: LoadedService,
  id: string,
  prefetch: Record<string, string>,
  payer = `${id}-payer`
): LoadedService {
  return {
    ...base,
    id,
    definition: { ...base.definition, id, prefetch },
    payers: [{ system: 'http://example.org/fhir/sid/payer-id', value: payer }],
  };
}

describe('the services built from the policies', () => {
  test('each policy on the three hooks, then one routed service per hook', () => {
    expect(buildCdsServices(policies).map((s) => [s.id, s.hook, s.target.kind])).toEqual([
      ['blinatumomab-label-current', 'order-sign', 'policy'],
      ['blinatumomab-label-current-order-select', 'order-select', 'policy'],
      ['blinatumomab-label-current-order-dispatch', 'order-dispatch', 'policy'],
      ['blinatumomab-mmm', 'order-sign', 'policy'],
      ['blinatumomab-mmm-order-select', 'order-select', 'policy'],
      ['blinatumomab-mmm-order-dispatch', 'order-dispatch', 'policy'],
      ['blinatumomab-single-agent', 'order-sign', 'policy'],
      ['blinatumomab-single-agent-order-select', 'order-select', 'policy'],
      ['blinatumomab-single-agent-order-dispatch', 'order-dispatch', 'policy'],
      ['blinatumomab-order-sign', 'order-sign', 'routed'],
      ['blinatumomab-order-select', 'order-select', 'routed'],
      ['blinatumomab-order-dispatch', 'order-dispatch', 'routed'],
    ]);
    expect(policyServiceId(mmm, 'order-sign')).toBe('blinatumomab-mmm');
    expect(routedServiceId('order-dispatch')).toBe('blinatumomab-order-dispatch');
    expect(buildCdsServices([])).toEqual([]);
  });

  test('a policy whose services would take a routed id (or another service id) stops start-up', () => {
    const clash = variant(mmm, 'blinatumomab-order-sign', mmm.definition.prefetch);
    expect(() => buildCdsServices([mmm, clash])).toThrow('two services would have the id blinatumomab-order-sign');
    const prefixed = variant(mmm, 'blinatumomab-mmm-order', mmm.definition.prefetch);
    const suffix = variant(mmm, 'blinatumomab-mmm-order-select-order', mmm.definition.prefetch);
    expect(() => buildCdsServices([prefixed, suffix, variant(mmm, 'x', {})])).not.toThrow();
    const twin = variant(mmm, 'blinatumomab', mmm.definition.prefetch);
    expect(() => buildCdsServices([twin, variant(mmm, 'blinatumomab-order-select', {})])).toThrow(
      /two services would have the id blinatumomab-order-select/
    );
  });

  test('one payer in two policies stops start-up, naming both', () => {
    const twin = { ...variant(mmm, 'blinatumomab-twin', mmm.definition.prefetch), payers: mmm.payers };
    expect(() => buildCdsServices([mmm, twin])).toThrow(
      'the payer http://example.org/fhir/sid/payer-id|mmm-healthcare is declared by two policies: blinatumomab-mmm and blinatumomab-twin'
    );
  });
});

describe("the routed prefetch: the union of the policies' templates", () => {
  test('a key with one template keeps its name; a key whose templates differ gets one key per template', () => {
    const union = routedPrefetch(policies);
    expect(Object.keys(union.templates).sort()).toEqual(
      [
        'carePlans',
        'conditions',
        'coverage',
        'immunizations',
        'medicationRequests',
        'observations-blinatumomab-label-current',
        'observations-blinatumomab-mmm',
        'observations-blinatumomab-single-agent',
        'patient',
      ].sort()
    );
    expect(union.templates['observations-blinatumomab-mmm']).toBe(mmm.definition.prefetch.observations);
    expect(union.templates['observations-blinatumomab-single-agent']).toBe(single.definition.prefetch.observations);
    expect(union.templates['observations-blinatumomab-label-current']).toBe(label.definition.prefetch.observations);
    // The immunizations template is the same in the label-based policy and policy 001: one key.
    expect(union.keys.get(label.id)?.immunizations).toBe('immunizations');
    expect(union.keys.get(single.id)?.immunizations).toBe('immunizations');
    // Each policy finds every one of its keys, holding its own template.
    for (const policy of policies) {
      const keys = union.keys.get(policy.id) ?? {};
      expect(Object.keys(keys).sort()).toEqual(Object.keys(policy.definition.prefetch).sort());
      for (const [own, routed] of Object.entries(keys)) {
        expect(union.templates[routed]).toBe(policy.definition.prefetch[own]);
      }
    }
  });

  test('policies sharing a template under a differing key share one routed key, named by the first of them', () => {
    const a = variant(mmm, 'policy-a', { obs: 'Observation?patient={{context.patientId}}&code=x|1' });
    const b = variant(mmm, 'policy-b', { obs: 'Observation?patient={{context.patientId}}&code=x|2' });
    const c = variant(mmm, 'policy-c', { obs: 'Observation?patient={{context.patientId}}&code=x|1' });
    const union = routedPrefetch([a, b, c]);
    expect(union.templates).toEqual({
      'obs-policy-a': 'Observation?patient={{context.patientId}}&code=x|1',
      'obs-policy-b': 'Observation?patient={{context.patientId}}&code=x|2',
    });
    expect(union.keys.get('policy-c')).toEqual({ obs: 'obs-policy-a' });
  });
});
