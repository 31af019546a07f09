// The CDS services served (contract section 1, "Hooks" and "One endpoint per hook for every payer"), built once at
// start-up from the loaded policies: each policy on order-sign (its own id), order-select and order-dispatch; and
// one routed service per hook that chooses the policy by the payer of the patient's active Coverage. Discovery lists
// exactly these definitions.
import { CRD_CONFIGURATION_OPTIONS } from './crd-configuration';
import { CodeMatcher } from '../policy/code-sets';
import type { LoadedService, PayerIdentifier } from '../policy/types';
import { HOOKS, type HookName, type ServiceDefinition } from './types';

/** The routed services' ids are `blinatumomab-<hook>`: every policy served governs blinatumomab. */
export const ROUTED_SERVICE_PREFIX = 'blinatumomab';

/** A service answering for one policy (it does not check the payer: an EHR calling it knows it). */
export interface PolicyTarget {
  kind: 'policy';
  policy: LoadedService;
}

/** The prefetch of the routed services: the union of the policies' templates, and each policy's keys in it. */
export interface RoutedPrefetch {
  /** Routed key -> template, as discovery declares it. */
  templates: Readonly<Record<string, string>>;
  /** Policy id -> (the policy's own key -> the routed key holding the same template). */
  keys: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

/** A service choosing the policy by the payer of the active Coverage. */
export interface RoutedTarget {
  kind: 'routed';
  /** In id order. */
  policies: readonly LoadedService[];
  /** `system|value` of a payer identifier -> the policy that declares it. */
  payers: ReadonlyMap<string, LoadedService>;
  /** The union of the policies' drug code sets: governance of a routed call (contract section 1). */
  drug: CodeMatcher;
  prefetch: RoutedPrefetch;
}

export interface CdsService {
  /** `POST /cds-services/{id}`. */
  id: string;
  hook: HookName;
  /** Exactly what discovery shows. */
  definition: ServiceDefinition;
  target: PolicyTarget | RoutedTarget;
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

export function routedServiceId(hook: HookName): string {
  return `${ROUTED_SERVICE_PREFIX}-${hook}`;
}

export function payerKey(identifier: PayerIdentifier): string {
  return `${identifier.system}|${identifier.value}`;
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

/** The type a template reads or searches (`Coverage?patient=...` -> `Coverage`). */
export function templateType(template: string): string | undefined {
  return /^\/?([A-Z][A-Za-z]+)(?:[/?]|$)/.exec(template)?.[1];
}

/**
 * The union of the policies' prefetch templates. A key every policy that declares it declares with the same
 * template keeps its name; a key whose templates differ between policies becomes one key per distinct template,
 * `<key>-<id of the first policy, in id order, declaring that template>`, so that each policy gets exactly the data
 * its own service would, and a cached discovery that predates a new policy never feeds a policy another's query.
 */
export function routedPrefetch(policies: readonly LoadedService[]): RoutedPrefetch {
  const byKey = new Map<string, Map<string, string[]>>();
  for (const policy of policies) {
    for (const [key, template] of Object.entries(policy.definition.prefetch)) {
      const templates = byKey.get(key) ?? new Map<string, string[]>();
      templates.set(template, [...(templates.get(template) ?? []), policy.id]);
      byKey.set(key, templates);
    }
  }
  const templates: Record<string, string> = {};
  const keys = new Map<string, Record<string, string>>(policies.map((p) => [p.id, {}]));
  for (const [key, variants] of byKey) {
    for (const [template, ids] of variants) {
      const routedKey = variants.size === 1 ? key : `${key}-${ids[0] as string}`;
      templates[routedKey] = template;
      for (const id of ids) {
        (keys.get(id) as Record<string, string>)[key] = routedKey;
      }
    }
  }
  return { templates, keys };
}

function routedDefinition(
  hook: HookName,
  policies: readonly LoadedService[],
  prefetch: RoutedPrefetch
): ServiceDefinition {
  const handled = policies
    .flatMap((p) => p.payers.map((payer) => `${payerKey(payer)} (${policyServiceId(p, hook)})`))
    .join(', ');
  const when =
    hook === 'order-sign'
      ? 'When a blinatumomab (Blincyto) order is signed'
      : hook === 'order-select'
        ? 'When blinatumomab (Blincyto) orders are selected'
        : 'When blinatumomab (Blincyto) orders are dispatched';
  return {
    id: routedServiceId(hook),
    hook,
    title: `Blinatumomab (Blincyto) coverage requirements, policy chosen by the payer (${HOOK_WORDS[hook]})`,
    description:
      `${when}, chooses the payer's policy by the payor identifier of the patient's active Coverage and answers as ` +
      `that policy's own ${hook} service does. One endpoint per hook for every payer: add only these routed ` +
      'services to an EHR or the CDS Hooks sandbox, so that one answer comes back per order.',
    prefetch: { ...prefetch.templates },
    usageRequirements:
      "Needs the prefetch declared here (the union of the policies' templates), or a fhirServer with a " +
      'fhirAuthorization access token allowed to read those resources. The payer is matched on Coverage.payor: the ' +
      "reference's identifier, or the identifier of the payor Organization included with _include=Coverage:payor. " +
      `Payers handled: ${handled || 'none'}. The first active Coverage whose payer a policy handles chooses the ` +
      'policy; active Coverages none of which is handled answer 400 payer-not-handled; no active Coverage answers ' +
      'one warning card and no system action.' +
      (hook === 'order-dispatch'
        ? ' The dispatched orders are taken from prefetch or read once each (MedicationRequest/{id}) from fhirServer.'
        : ''),
    extension: configurationOptions(),
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
 * The routed services, one per hook, over `policies`.
 * @throws Error naming both policies when a payer identifier is declared by two of them.
 */
export function routedServices(policies: readonly LoadedService[]): CdsService[] {
  const sorted = [...policies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const payers = new Map<string, LoadedService>();
  for (const policy of sorted) {
    for (const payer of policy.payers) {
      const key = payerKey(payer);
      const other = payers.get(key);
      if (other && other !== policy) {
        throw new Error(`the payer ${key} is declared by two policies: ${other.id} and ${policy.id}`);
      }
      payers.set(key, policy);
    }
  }
  const prefetch = routedPrefetch(sorted);
  const drug = CodeMatcher.union(sorted.map((p) => p.drug));
  return HOOKS.map((hook) => ({
    id: routedServiceId(hook),
    hook,
    definition: routedDefinition(hook, sorted, prefetch),
    target: { kind: 'routed', policies: sorted, payers, drug, prefetch },
  }));
}

/**
 * Every service served: each policy's three, then the three routed ones (none when there is no policy).
 * @throws Error when two services would share an id, or two policies declare one payer.
 */
export function buildCdsServices(policies: readonly LoadedService[]): CdsService[] {
  const services = [...policies.flatMap(policyServices), ...(policies.length > 0 ? routedServices(policies) : [])];
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
