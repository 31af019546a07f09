// The CDS services served (contract section 1, "Hooks"), built once at start-up from the loaded policies: each policy
// on order-sign (its own id), order-select and order-dispatch. Discovery lists exactly these definitions.
import { CRD_CONFIGURATION_OPTIONS } from './crd-configuration';
import type { LoadedService } from '../policy/types';
import { HOOKS, type HookName, type ServiceDefinition } from './types';

/** A service answering for one policy (it does not check the payer: an EHR calling it knows it). */
export interface PolicyTarget {
  kind: 'policy';
  policy: LoadedService;
}

export interface CdsService {
  /** `POST /cds-services/{id}`. */
  id: string;
  hook: HookName;
  /** Exactly what discovery shows. */
  definition: ServiceDefinition;
  target: PolicyTarget;
}

/** How discovery names each hook's service in titles. */
const HOOK_WORDS: Record<HookName, string> = {
  'order-sign': 'order-sign',
  'order-select': 'order-select',
  'order-dispatch': 'order-dispatch',
};

/** The id of a policy's service on `hook`: the policy's own id on order-sign, `<id>-<hook>` on the others. */
export function policyServiceId(policy: Pick<LoadedService, 'id'>, hook: HookName): string {
  return hook === 'order-sign' ? policy.id : `${policy.id}-${hook}`;
}

function configurationOptions(): Record<string, unknown> {
  return { 'davinci-crd.configuration-options': structuredClone(CRD_CONFIGURATION_OPTIONS) };
}

function policyWords(policy: LoadedService): string {
  const name = /\bpolicy$/i.test(policy.label.trim()) ? policy.label.trim() : `${policy.label.trim()} policy`;
  return policy.policyId ? `${name} ${policy.policyId}` : name;
}

/** The discovery entry of a policy's service on `hook` (order-sign: the policy file's own entry). */
function policyDefinition(policy: LoadedService, hook: HookName): ServiceDefinition {
  if (hook === 'order-sign') {
    return policy.definition;
  }
  const own = policy.definition;
  const id = policyServiceId(policy, hook);
  const description =
    hook === 'order-select'
      ? `When blinatumomab (Blincyto) orders are selected (order-select, a CRD secondary hook), assesses the selected ` +
        `ones as ${policy.id} does under the ${policyWords(policy)}, every draft order counting as context: a ` +
        'coverage card saying what the prior authorization will need, dose and quantity corrections, and Da Vinci ' +
        'CRD coverage information that asks for no documentation (no documentation card, no Task, no ' +
        'questionnaire).'
      : `When blinatumomab (Blincyto) orders are dispatched to a performer (order-dispatch, a CRD primary hook), ` +
        `assesses the dispatched orders as ${policy.id} does on order-sign under the ${policyWords(policy)}: cards ` +
        'and the Da Vinci CRD coverage-information system action; an order that already carries the same ' +
        'assertion for its Coverage gets only its dose and quantity corrections.';
  const usage =
    hook === 'order-dispatch'
      ? `${own.usageRequirements} The dispatched orders (context.dispatchedOrders) are taken from prefetch (a ` +
        'MedicationRequest, or a Bundle entry, with their id) or read once each (MedicationRequest/{id}) from ' +
        'fhirServer before anything else; one that cannot be read answers 412 order-unavailable.'
      : `${own.usageRequirements} Only the orders named in context.selections are assessed.`;
  return {
    id,
    hook,
    title: `${own.title} (${HOOK_WORDS[hook]})`,
    description,
    prefetch: { ...own.prefetch },
    usageRequirements: usage,
    ...(own.extension ? { extension: structuredClone(own.extension) } : configurationOptions()),
  };
}

/** A policy's service on `hook`. */
export function policyService(policy: LoadedService, hook: HookName): CdsService {
  return {
    id: policyServiceId(policy, hook),
    hook,
    definition: policyDefinition(policy, hook),
    target: { kind: 'policy', policy },
  };
}

/** A policy's services on the three hooks. */
export function policyServices(policy: LoadedService): CdsService[] {
  return HOOKS.map((hook) => policyService(policy, hook));
}

/**
 * Every service served: each policy's three.
 * @throws Error when two services would share an id.
 */
export function buildCdsServices(policies: readonly LoadedService[]): CdsService[] {
  const services = policies.flatMap(policyServices);
  const seen = new Map<string, CdsService>();
  for (const service of services) {
    const other = seen.get(service.id);
    if (other) {
      throw new Error(`two services would have the id ${service.id}: rename the policy folder`);
    }
    seen.set(service.id, service);
  }
  return services;
}
