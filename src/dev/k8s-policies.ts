// npm run k8s:policies [-- --services-dir DIR] [-- --out DIR]: a kustomize overlay that serves the policy folders
// of DIR (default cds-services) from a ConfigMap instead of the ones in the image, for operators who replace them.
// It writes, into the output folder (default deploy/kubernetes/policies):
//   configmap.yaml          ConfigMap cds-hooks-policies, one key per file (path separators written `__`)
//   deployment-patch.yaml   mounts it at /etc/cds/policies with every key mapped back to its path, points
//                           CDS_SERVICES_DIR there, and stamps the pod template with the content's hash (a change
//                           of policy rolls the pods)
//   kustomization.yaml      the base, plus those two
// The folder is loaded first, exactly as the service loads it at start-up, so a broken policy never reaches the
// cluster. No kustomize or kubectl is needed to generate it; `kubectl apply -k <out>` applies it.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { buildCdsServices } from '../hooks/services';
import { loadServices } from '../policy/load';

export const POLICIES_CONFIGMAP = 'cds-hooks-policies';
export const POLICIES_MOUNT = '/etc/cds/policies';
export const DEPLOYMENT = 'cds-hooks';
export const CONTAINER = 'cds';
/** Kubernetes refuses objects over 1 MiB; a ConfigMap's data counts whole. */
export const CONFIGMAP_MAX_BYTES = 1024 * 1024;
const KEY = /^[-._a-zA-Z0-9]+$/;
const SEPARATOR = '__';

const ROOT = path.resolve(__dirname, '..', '..');
const BASE = path.join(ROOT, 'deploy', 'kubernetes', 'base');

export interface PolicyOverlay {
  /** File name in the output folder -> its text. */
  files: Record<string, string>;
  /** ConfigMap key -> the path under the services folder it holds. */
  items: Array<{ key: string; path: string }>;
  sha256: string;
}

function filesUnder(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      out.push(...filesUnder(path.join(dir, entry.name), rel));
    } else if (entry.isFile()) {
      out.push(rel);
    }
  }
  return out;
}

/**
 * Builds the overlay for a services folder (throws with the loader's message on a bad policy, or when a file name
 * cannot be a ConfigMap key, or when the whole exceeds what Kubernetes stores).
 * @param servicesDir - the policy folders
 * @param outDir - where the overlay will be written (its kustomization points back at the base from there)
 */
export function buildPolicyOverlay(servicesDir: string, outDir: string): PolicyOverlay {
  // File names first (a ConfigMap key per file, none twice), then the policies, as start-up loads them.
  const keyOf = new Map<string, string>();
  for (const rel of filesUnder(servicesDir)) {
    const parts = rel.split('/');
    if (parts.some((p) => p.includes(SEPARATOR) || !KEY.test(p))) {
      throw new Error(`${rel}: a file or folder name must match ${KEY.source} without "${SEPARATOR}"`);
    }
    const key = parts.join(SEPARATOR);
    const other = [...keyOf].find(([, k]) => k === key)?.[0];
    if (other !== undefined) {
      throw new Error(`${rel} and ${other} would share the ConfigMap key ${key}: rename one`);
    }
    keyOf.set(rel, key);
  }
  const services = loadServices(servicesDir);
  buildCdsServices(services);
  const data: Record<string, string> = {};
  const binaryData: Record<string, string> = {};
  const items: PolicyOverlay['items'] = [];
  const hash = createHash('sha256');
  let bytes = 0;
  for (const [rel, key] of keyOf) {
    const content = fs.readFileSync(path.join(servicesDir, rel));
    const text = content.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(content)) {
      data[key] = text;
    } else {
      binaryData[key] = content.toString('base64');
    }
    bytes += key.length + content.length;
    hash.update(rel).update('\0').update(content).update('\0');
    items.push({ key, path: rel });
  }
  if (bytes > CONFIGMAP_MAX_BYTES * 0.95) {
    throw new Error(
      `${servicesDir}: ${bytes} bytes, too large for one ConfigMap (Kubernetes stores at most 1 MiB per object)`
    );
  }
  const sha256 = hash.digest('hex');
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: POLICIES_CONFIGMAP,
      labels: { 'app.kubernetes.io/name': DEPLOYMENT },
      annotations: { 'cds-hooks/policies-sha256': sha256 },
    },
    ...(Object.keys(data).length ? { data } : {}),
    ...(Object.keys(binaryData).length ? { binaryData } : {}),
  };
  const patch = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: DEPLOYMENT },
    spec: {
      template: {
        metadata: { annotations: { 'cds-hooks/policies-sha256': sha256 } },
        spec: {
          containers: [
            {
              name: CONTAINER,
              env: [{ name: 'CDS_SERVICES_DIR', value: POLICIES_MOUNT }],
              volumeMounts: [{ name: 'policies', mountPath: POLICIES_MOUNT, readOnly: true }],
            },
          ],
          volumes: [{ name: 'policies', configMap: { name: POLICIES_CONFIGMAP, items } }],
        },
      },
    },
  };
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [path.relative(path.resolve(outDir), BASE).split(path.sep).join('/'), 'configmap.yaml'],
    patches: [{ path: 'deployment-patch.yaml' }],
  };
  const header = (what: string): string =>
    `# Generated by npm run k8s:policies from ${path.relative(ROOT, path.resolve(servicesDir)) || '.'} (${services.length} policies): ${what}.\n# Do not edit; regenerate.\n`;
  return {
    files: {
      'kustomization.yaml': header('the base with the policies from a ConfigMap') + YAML.stringify(kustomization),
      'configmap.yaml': header('every file of the policy folders') + YAML.stringify(configMap, { lineWidth: 0 }),
      'deployment-patch.yaml': header('mounts them and points CDS_SERVICES_DIR there') + YAML.stringify(patch),
    },
    items,
    sha256,
  };
}

/**
 * Writes the overlay (replacing the three files; nothing else in the folder is touched).
 * @returns the overlay written
 */
export function writePolicyOverlay(servicesDir: string, outDir: string): PolicyOverlay {
  const overlay = buildPolicyOverlay(servicesDir, outDir);
  fs.mkdirSync(outDir, { recursive: true });
  for (const [name, text] of Object.entries(overlay.files)) {
    fs.writeFileSync(path.join(outDir, name), text);
  }
  return overlay;
}

function main(argv: string[]): void {
  let servicesDir = path.join(ROOT, 'cds-services');
  let outDir = path.join(ROOT, 'deploy', 'kubernetes', 'policies');
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const next = argv[i + 1];
    if ((arg === '--services-dir' || arg === '--out') && next !== undefined) {
      if (arg === '--out') {
        outDir = path.resolve(next);
      } else {
        servicesDir = path.resolve(next);
      }
      i += 1;
    } else {
      throw new Error(`usage: npm run k8s:policies [-- --services-dir DIR] [-- --out DIR] (unknown argument ${arg})`);
    }
  }
  const overlay = writePolicyOverlay(servicesDir, outDir);
  process.stdout.write(
    `wrote ${path.relative(process.cwd(), outDir) || '.'}: ConfigMap ${POLICIES_CONFIGMAP} with ${overlay.items.length} files (sha256 ${overlay.sha256.slice(0, 12)}); apply with kubectl apply -k ${path.relative(process.cwd(), outDir) || '.'}\n`
  );
}

// Run directly (node dist/dev/k8s-policies.js) or through scripts/start.js, which sets argv[1] to this file.
if (require.main === module || path.resolve(process.argv[1] ?? '') === __filename) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
