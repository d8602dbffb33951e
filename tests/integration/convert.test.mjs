// HL7 v2 -> FHIR with `ketamine-gateway convert`: every shared and own sample converts; every
// resource in the output passes Medplum's validateResource, and the Bundle passes ours (with the
// sample defects listed below); golden key fields of the ketamine messages; a site override
// supported by a mapping file alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { medplumErrors } from './peers.mjs';
import { gatewayBin } from './gateway.mjs';


const samplesDir = process.env.KGW_SAMPLES_DIR;
const ownDir = process.env.KGW_TEST_DATA_DIR;
const profilesDir = process.env.KGW_PROFILES_DIR;
const mappingsDir = path.join(profilesDir, '..', 'mappings');

// Defects in the public samples themselves; our validator is right to report them.
const SAMPLE_DEFECTS = {
  'ORU_R01-fhirconverter-1.hl7': {
    ours: [
      'map-required-missing', // the second OBX has no OBX-3 (observation identifier)
      'cardinality-min', //       ... so its Observation has no code
      'invariant-ket-vital-unit-1', // a heart rate (8867-4) "27~25" with no unit
      'clinical-vital-unit',
    ],
    medplum: ['Bundle.entry[2].resource.code', 'Observation.code'], // the same missing code
  },
};

function convert(file, extra = []) {
  const r = spawnSync(gatewayBin, ['convert', '--from', 'hl7v2', '--to', 'fhir', '--timezone', '-05:00',
    '--profiles-dir', profilesDir, '--mappings', mappingsDir, ...extra, file], { encoding: 'utf8' });
  const issues = r.stderr.trim().split('\n').filter(Boolean).map((line) => {
    const m = line.match(/^(\w+) (.*?): (.*) \[([\w.-]+)\]$/);
    return m ? { severity: m[1], location: m[2], text: m[3], rule: m[4] } : { severity: 'error', text: line, rule: '?' };
  });
  const bundles = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { status: r.status, issues, bundles };
}


const hl7Files = (dir) => readdirSync(dir).filter((f) => f.endsWith('.hl7')).map((f) => path.join(dir, f));

test('every sample converts; Medplum accepts every resource; ours accepts every Bundle', () => {
  const files = [...hl7Files(samplesDir), ...hl7Files(ownDir)];
  assert.ok(files.length >= 15);
  for (const file of files) {
    const name = path.basename(file);
    const { bundles, issues } = convert(file);
    assert.equal(bundles.length, 1, `${name}: one Bundle`);
    const bundle = bundles[0];
    assert.equal(bundle.type, 'transaction');
    const defects = SAMPLE_DEFECTS[name] ?? { ours: [], medplum: [] };
    const allowed = (errors) => errors.filter((e) => !defects.medplum.includes(e.expression?.[0]));
    assert.deepEqual(allowed(medplumErrors(bundle)), [], `${name}: the Bundle`);
    for (const entry of bundle.entry) {
      assert.deepEqual(allowed(medplumErrors(entry.resource)), [], `${name}: ${entry.resource.resourceType}`);
    }
    const errors = issues.filter((i) => i.severity === 'error').map((i) => i.rule);
    assert.deepEqual([...new Set(errors)].sort(), [...defects.ours].sort(), `${name}: ${JSON.stringify(issues)}`);
  }
});

test('the same message gives the same Bundle; two messages never share an id', () => {
  const file = path.join(ownDir, 'RDE_O11-ketamine-1.hl7');
  const a = convert(file).bundles[0];
  const b = convert(file).bundles[0];
  assert.deepEqual(a, b);
  const other = convert(path.join(ownDir, 'RAS_O17-ketamine-1.hl7')).bundles[0];
  const urls = new Set(a.entry.map((e) => e.fullUrl));
  for (const e of other.entry) assert.ok(!urls.has(e.fullUrl));
});

test('golden fields of the ketamine order', () => {
  const bundle = convert(path.join(ownDir, 'RDE_O11-ketamine-1.hl7')).bundles[0];
  const byType = (t) => bundle.entry.filter((e) => e.resource.resourceType === t);
  const order = byType('MedicationRequest')[0];
  const mr = order.resource;
  assert.equal(order.request.method, 'PUT');
  assert.match(order.request.url, /^MedicationRequest\?identifier=.*\|ORD-7001$/);
  assert.equal(mr.status, 'active');
  assert.equal(mr.intent, 'order');
  assert.equal(mr.medicationCodeableConcept.coding[0].code, '238082');
  assert.equal(mr.medicationCodeableConcept.coding[0].system, 'http://www.nlm.nih.gov/research/umls/rxnorm');
  assert.equal(mr.authoredOn, '2026-11-23T08:30:00-05:00');
  const dosage = mr.dosageInstruction[0];
  assert.deepEqual(dosage.route.coding[0], { system: 'http://snomed.info/sct', code: '47625008', display: 'Intravenous route' });
  assert.deepEqual(dosage.doseAndRate[0].rateQuantity, { value: 0.35, unit: 'mg/kg/h', system: 'http://unitsofmeasure.org', code: 'mg/kg/h' });
  assert.equal(dosage.doseAndRate[1].rateQuantity.value, 28);
  assert.equal(dosage.timing.repeat.duration, 4);
  assert.equal(dosage.timing.repeat.durationUnit, 'h');
  assert.equal(dosage.timing.repeat.boundsPeriod.start, '2026-11-23T09:00:00-05:00');
  const weight = byType('Observation')[0];
  assert.equal(dosage.extension[0].valueReference.reference, weight.fullUrl);
  assert.equal(weight.resource.valueQuantity.value, 80);
  const prescriber = byType('Practitioner')[0];
  assert.equal(mr.requester.reference, prescriber.fullUrl);
  assert.deepEqual(prescriber.resource.identifier[0].system, 'http://terminology.hl7.org/NamingSystem/USDEANumber');
  assert.equal(prescriber.resource.identifier[0].value, 'AB1234563');
  const medication = byType('Medication')[0].resource;
  assert.equal(medication.extension[0].valueCodeableConcept.coding[0].code, 'III');
  assert.equal(medication.ingredient[0].strength.numerator.value, 10);
  assert.equal(byType('Patient')[0].resource.gender, 'female');
});

test('golden fields of the ketamine administration with waste', () => {
  const bundle = convert(path.join(ownDir, 'RAS_O17-ketamine-1.hl7')).bundles[0];
  const ma = bundle.entry.find((e) => e.resource.resourceType === 'MedicationAdministration').resource;
  assert.equal(ma.status, 'completed');
  assert.deepEqual(ma.effectivePeriod, { start: '2026-11-23T09:05:00-05:00', end: '2026-11-23T13:05:00-05:00' });
  assert.equal(ma.dosage.dose.value, 112);
  assert.equal(ma.request.identifier.value, 'ORD-7001');
  const waste = ma.extension[0];
  assert.equal(waste.url, 'http://fhir.ketamine-gateway.org/StructureDefinition/ketamine-waste');
  assert.equal(waste.extension.find((e) => e.url === 'amount').valueQuantity.value, 88);
  const witness = waste.extension.find((e) => e.url === 'witness').valueReference.reference;
  const witnessEntry = bundle.entry.find((e) => e.fullUrl === witness);
  assert.equal(witnessEntry.resource.name[0].family, 'Ortiz');
  const medication = bundle.entry.find((e) => e.resource.resourceType === 'Medication').resource;
  assert.deepEqual(medication.batch, { lotNumber: 'LOT-KX2291', expirationDate: '2027-06-30' });
});

test('pain scores and vitals of the ketamine ORU', () => {
  const bundle = convert(path.join(ownDir, 'ORU_R01-ketamine-1.hl7')).bundles[0];
  const obs = bundle.entry.filter((e) => e.resource.resourceType === 'Observation').map((e) => e.resource);
  assert.equal(obs.length, 6);
  assert.equal(obs[0].code.coding[0].code, '72514-3');
  assert.equal(obs[0].valueQuantity.value, 8);
  assert.equal(obs[0].extension[0].extension[0].valueCode, 'before');
  assert.equal(obs[1].extension[0].extension[0].valueCode, 'after');
  assert.equal(obs[2].category[0].coding[0].code, 'vital-signs');
  assert.equal(obs[4].valueQuantity.code, 'mm[Hg]');
});

test('a message missing required data or over the limits gets errors naming segment and field', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kgw-convert-'));
  try {
    const base = 'MSH|^~\\&|EHR|CLINIC|GW|CLINIC|20261123083000-0500||RDE^O11^RDE_O11|CV-1|P|2.5.1\r' +
      'PID|1||MRN-1^^^CLINIC^MR||Doe^Jane||19800101|F\rORC|NW|ORD-1^EHR\r';
    const missing = path.join(dir, 'missing.hl7');
    writeFileSync(missing, base + 'RXE|||1||mg\rRXR|IV\r');
    const m = convert(missing);
    assert.equal(m.status, 1);
    assert.ok(m.issues.some((i) => i.rule === 'map-required-missing' && i.location === 'RXE-2'), JSON.stringify(m.issues));
    const fast = path.join(dir, 'fast.hl7');
    writeFileSync(fast, base + 'RXE||238082^ketamine 10 MG/ML^RXNORM|1.5||mg/kg/h^^UCUM||||||||AB1234563^Morgan^Dana^^^^^^^^^^DEA\r' +
      'TQ1|1||||||20261123090000-0500|20261123100000-0500|||||1^h&hour&UCUM\rRXR|IV\rOBX|1|NM|29463-7^Body weight^LN||80|kg|||||F\r');
    const f = convert(fast);
    assert.equal(f.status, 1);
    assert.ok(f.issues.some((i) => i.rule === 'clinical-rate' && i.severity === 'error'), JSON.stringify(f.issues));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a site override: the dose in RXE-3 with its units in a Z-segment, by a mapping file alone', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kgw-site-'));
  try {
    mkdirSync(path.join(dir, 'v2-to-fhir'));
    writeFileSync(path.join(dir, 'v2-to-fhir', 'site-rde.json'), JSON.stringify({
      extends: 'pharmacy-order',
      resources: [{ name: 'order', fields: [
        { to: 'dosageInstruction[0].doseAndRate[0].doseQuantity', from: 'RXE-3', units: 'ZRE-1', type: 'QTY' },
        { to: 'dosageInstruction[0].doseAndRate[0].rateQuantity', from: 'RXE-3', units: 'ZRE-1', type: 'QTY', when: { present: 'ZRE-9' } },
      ] }],
    }));
    const msg = path.join(dir, 'msg.hl7');
    writeFileSync(msg, 'MSH|^~\\&|EHR|CLINIC|GW|CLINIC|20261123083000-0500||RDE^O11^RDE_O11|SITE-1|P|2.5.1\r' +
      'PID|1||MRN-1^^^CLINIC^MR||Doe^Jane||19800101|F\rORC|NW|ORD-9^EHR\rRXE||12345^other drug^RXNORM|40\rZRE|mg\r');
    const plain = convert(msg).bundles[0];
    const plainMr = plain.entry.find((e) => e.resource.resourceType === 'MedicationRequest').resource;
    assert.equal(plainMr.dosageInstruction[0].doseAndRate[0].doseQuantity.code, undefined);
    const site = convert(msg, ['--site-mappings', dir]);
    const mr = site.bundles[0].entry.find((e) => e.resource.resourceType === 'MedicationRequest').resource;
    assert.deepEqual(mr.dosageInstruction[0].doseAndRate[0].doseQuantity, { value: 40, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' });
    assert.ok(!site.issues.some((i) => i.rule === 'map-segment-unmapped' && i.location === 'ZRE'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a broken mapping file is refused naming the file, the line and the reason', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kgw-broken-'));
  try {
    mkdirSync(path.join(dir, 'v2-to-fhir'));
    writeFileSync(path.join(dir, 'v2-to-fhir', 'bad.json'), '{\n  "extends": "pharmacy-order",\n  "resources": [{"name": "order", "fields": [\n    {"to": "status", "from": "ORC1"}\n  ]}]\n}\n');
    const r = spawnSync(gatewayBin, ['convert', '--from', 'hl7v2', '--to', 'fhir', '--profiles-dir', profilesDir,
      '--mappings', mappingsDir, '--site-mappings', dir, '-'], { input: '', encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bad\.json line 4: resources\[0\]\.fields\[0\]\.from: bad HL7 path 'ORC1'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('$convert-data Parameters with the message in a JSON string converts like the raw file', () => {
  const file = path.join(ownDir, 'RDE_O11-ketamine-1.hl7');
  const raw = readFileSync(file, 'utf8');
  assert.ok(raw.includes('\\X0D\\') && raw.includes('^~\\&'), 'the message has v2 escapes');
  const dir = mkdtempSync(path.join(tmpdir(), 'kgw-params-'));
  try {
    const params = path.join(dir, 'params.json');
    writeFileSync(params, JSON.stringify({ resourceType: 'Parameters', parameter: [
      { name: 'inputData', valueString: raw }, { name: 'inputDataType', valueString: 'Hl7v2' },
      { name: 'rootTemplate', valueString: 'RDE_O11' }] }));
    assert.deepEqual(convert(params).bundles, convert(file).bundles);
    const wrongType = path.join(dir, 'wrong.json');
    writeFileSync(wrongType, JSON.stringify({ resourceType: 'Parameters', parameter: [
      { name: 'inputData', valueString: raw }, { name: 'inputDataType', valueString: 'Ccda' }] }));
    const r = convert(wrongType);
    assert.equal(r.status, 1);
    assert.match(r.issues[0].text, /inputDataType 'Ccda' is not supported/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--type picks the plan whatever MSH-9 says; an unknown type is a usage error', () => {
  const file = path.join(ownDir, 'ORU_R01-ketamine-1.hl7');
  const asAdt = convert(file, ['--type', 'ADT^A08']);
  assert.deepEqual(asAdt.bundles[0].entry.map((e) => e.resource.resourceType), ['Patient']);
  const unknown = convert(file, ['--type', 'DFT^P03']);
  assert.equal(unknown.status, 2);
});
