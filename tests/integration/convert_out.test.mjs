// FHIR -> HL7 v2 and CSV -> FHIR with `ketamine-gateway convert`. The v2 we write is read by
// Medplum's Hl7Message parser (an independent reader); the round trip v2 -> FHIR -> v2 compares the
// fields listed below one by one; CSV rows become Bundles that Medplum's validateResource accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { medplumErrors, peer } from './peers.mjs';
import { gatewayBin } from './gateway.mjs';

const ownDir = process.env.KGW_TEST_DATA_DIR;
const profilesDir = process.env.KGW_PROFILES_DIR;
const mappingsDir = path.join(profilesDir, '..', 'mappings');
const csvDir = path.join(ownDir, '..', 'csv');
const { Hl7Message } = peer('@medplum/core');

function run(args, input) {
  const r = spawnSync(gatewayBin, ['convert', '--profiles-dir', profilesDir, '--mappings', mappingsDir, ...args],
    { encoding: 'utf8', input, maxBuffer: 256 << 20 });
  const issues = r.stderr.trim().split('\n').filter(Boolean).map((line) => {
    const m = line.match(/^(?:row (\d+): )?(\w+) (.*?): (.*) \[([\w.-]+)\]$/);
    return m ? { row: m[1] && Number(m[1]), severity: m[2], location: m[3], text: m[4], rule: m[5] } : { severity: 'error', text: line, rule: '?' };
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, issues };
}

const toFhir = (file) => JSON.parse(run(['--from', 'hl7v2', '--to', 'fhir', '--timezone', '-05:00', file]).stdout.trim());

function toV2(bundle, extra = []) {
  const dir = mkdtempSync(path.join(tmpdir(), 'kgw-out-'));
  try {
    const file = path.join(dir, 'in.json');
    writeFileSync(file, JSON.stringify(bundle));
    return run(['--from', 'fhir', '--to', 'hl7v2', ...extra, file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// "OBX[2]-5.1.2" read through Medplum's parser.
function field(message, where) {
  const m = where.match(/^([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?-(\d+)(?:\.(\d+))?(?:\.(\d+))?$/);
  assert.ok(m, where);
  const segment = message.getAllSegments(m[1])[(Number(m[2] ?? 1)) - 1];
  if (!segment) return undefined;
  const f = segment.getField(Number(m[3]));
  if (!m[4]) return f.toString();
  if (!m[5]) return f.getComponent(Number(m[4]));
  return f.getComponent(Number(m[4]), Number(m[5]) - 1); // Medplum counts subcomponents from 0
}

// Every field the v2 -> FHIR mappings read from these messages, compared after v2 -> FHIR -> v2.
// Not compared, because no mapping reads them: MSH (the gateway is the new sender), PV1, NTE,
// OBR-2, ORC-12 (the prescriber comes back in RXE-13), XCN degree (component 7), RXA-17 and RXA-21 A.
const ROUND_TRIP = {
  'RDE_O11-ketamine-1.hl7': ['PID-3', 'PID-5', 'PID-7', 'PID-8', 'PID-11', 'ORC-1', 'ORC-2', 'ORC-3', 'ORC-9',
    'TQ1-7', 'TQ1-8', 'TQ1-13.1', 'TQ1-13.2.1', 'RXE-2', 'RXE-3', 'RXE-5', 'RXE-6', 'RXE-13.1', 'RXE-13.2',
    'RXE-13.3', 'RXE-13.13', 'RXE-22', 'RXE-23', 'RXE-24', 'RXE-25', 'RXE-26', 'RXE-33', 'RXE-34', 'RXE-35',
    'RXR-1', 'OBX-2', 'OBX-3', 'OBX-5', 'OBX-6', 'OBX-11', 'OBX-14'],
  'RAS_O17-ketamine-1.hl7': ['PID-3', 'PID-5', 'PID-7', 'PID-8', 'ORC-2', 'RXA-3', 'RXA-4', 'RXA-5', 'RXA-6',
    'RXA-7', 'RXA-9.2', 'RXA-10.1', 'RXA-10.2', 'RXA-10.3', 'RXA-15', 'RXA-16', 'RXA-20', 'RXR-1', 'ZRX-1',
    'ZRX-2', 'ZRX-3', 'ZRX-4.1', 'ZRX-4.2', 'ZRX-4.3'],
  'ORU_R01-ketamine-1.hl7': ['PID-3', 'PID-5', 'PID-7', 'PID-8',
    ...[1, 2, 3, 4, 5, 6].flatMap((n) => ['2', '3', '4', '5', '6', '11', '14'].map((f) => `OBX[${n}]-${f}`))],
};

test('round trip v2 -> FHIR -> v2 keeps every mapped field', () => {
  for (const [name, fields] of Object.entries(ROUND_TRIP)) {
    const file = path.join(ownDir, name);
    const original = Hl7Message.parse(readFileSync(file, 'utf8'));
    const out = toV2(toFhir(file));
    assert.equal(out.status, 0, `${name}: ${out.stderr}`);
    assert.ok(out.stdout.includes('\r') && !out.stdout.includes('\n'), 'segments end with \\r');
    const back = Hl7Message.parse(out.stdout);
    assert.equal(back.getSegment('MSH').getField(9).toString(), original.getSegment('MSH').getField(9).toString());
    let valued = 0;
    for (const where of fields) {
      const expected = field(original, where) ?? '';
      valued += expected ? 1 : 0;
      assert.equal(field(back, where) ?? '', expected, `${name} ${where}`);
    }
    assert.ok(valued >= fields.length * 0.8, `${name}: most compared fields are valued`);
  }
});

test('the v2 we write converts back to FHIR that both validators accept', () => {
  for (const name of Object.keys(ROUND_TRIP)) {
    const out = toV2(toFhir(path.join(ownDir, name)));
    const dir = mkdtempSync(path.join(tmpdir(), 'kgw-back-'));
    try {
      writeFileSync(path.join(dir, 'back.hl7'), out.stdout);
      const again = run(['--from', 'hl7v2', '--to', 'fhir', path.join(dir, 'back.hl7')]);
      assert.equal(again.status, 0, `${name}: ${again.stderr}`);
      const bundle = JSON.parse(again.stdout);
      for (const entry of bundle.entry) assert.deepEqual(medplumErrors(entry.resource), [], `${name} ${entry.resource.resourceType}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('FHIR examples to v2: the order Bundle, OMP^O09 on request, and version 2.3', () => {
  const order = JSON.parse(readFileSync(path.join(profilesDir, 'examples', 'valid', 'Bundle-ketamine-order.json'), 'utf8'));
  const rde = toV2(order);
  assert.equal(rde.status, 0, rde.stderr);
  const msg = Hl7Message.parse(rde.stdout);
  assert.equal(msg.getSegment('MSH').getField(9).toString(), 'RDE^O11^RDE_O11');
  assert.equal(msg.getSegment('MSH').getField(12).toString(), '2.5.1');
  assert.equal(msg.getSegment('RXE').getField(2).getComponent(1), '238082');
  assert.equal(msg.getSegment('RXE').getField(3).toString(), '0.35');
  assert.equal(msg.getSegment('RXE').getField(5).getComponent(1), 'mg/kg/h');
  assert.equal(msg.getSegment('RXE').getField(4).toString(), '', 'a max dose in mg does not go under rate units');
  assert.equal(msg.getSegment('RXE').getField(13).getComponent(13), 'DEA');
  assert.equal(msg.getSegment('RXR').getField(1).getComponent(1), 'IV');
  assert.equal(msg.getSegment('TQ1').getField(7).toString(), '20261123090000-0500');

  const omp = Hl7Message.parse(toV2(order, ['--type', 'OMP^O09']).stdout);
  assert.equal(omp.getSegment('MSH').getField(9).toString(), 'OMP^O09^OMP_O09');
  assert.equal(omp.getSegment('RXO').getField(1).getComponent(1), '238082');
  assert.equal(omp.getAllSegments('RXE').length, 0);

  const old = Hl7Message.parse(toV2(order, ['--v2-version', '2.3']).stdout);
  assert.equal(old.getSegment('MSH').getField(9).toString(), 'RDE^O01');
  assert.equal(old.getAllSegments('TQ1').length, 0);
  assert.equal(old.getSegment('RXE').getField(1).getComponent(4), '20261123090000-0500', 'timing in RXE-1 without TQ1');

  const bad = toV2(order, ['--v2-version', '9.9']);
  assert.equal(bad.status, 2);
});

test('FHIR to v2 refuses what it cannot write, naming the FHIR location', () => {
  const ma = readFileSync(path.join(profilesDir, 'examples', 'valid', 'MedicationAdministration-ketamine-infusion.json'), 'utf8');
  const alone = toV2(JSON.parse(ma));
  assert.equal(alone.status, 1);
  assert.ok(alone.issues.some((i) => i.rule === 'fhir-to-v2-unresolved-reference' && i.severity === 'error' &&
    i.location === 'MedicationAdministration.medicationReference' && /RXA-5/.test(i.text)), alone.stderr);
  const invalid = toV2({ resourceType: 'MedicationRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/x' } });
  assert.equal(invalid.status, 1, 'input that is not valid FHIR is refused before conversion');
  assert.ok(invalid.issues.some((i) => i.location.startsWith('MedicationRequest')), invalid.stderr);
  const unsupported = toV2({ resourceType: 'Location', id: 'x' }, ['--no-validate']);
  assert.equal(unsupported.status, 1);
  assert.match(unsupported.stderr, /no fhir-to-v2 mapping for Location/);
  const notJson = run(['--from', 'fhir', '--to', 'hl7v2', '-'], '{"resourceType": ');
  assert.equal(notJson.status, 1);
  assert.equal(notJson.stderr.trim().split('\n').length, 1);
});

test('a waste entered in error, an administration not given: status codes go back through the concept maps', () => {
  const bundle = toFhir(path.join(ownDir, 'RAS_O17-ketamine-1.hl7'));
  const ma = bundle.entry.find((e) => e.resource.resourceType === 'MedicationAdministration').resource;
  ma.status = 'entered-in-error';
  const out = toV2(bundle);
  assert.equal(out.status, 0, out.stderr);
  const msg = Hl7Message.parse(out.stdout);
  assert.equal(msg.getSegment('RXA').getField(21).toString(), 'D');
  assert.ok(out.issues.some((i) => i.rule === 'fhir-to-v2-code-unmapped'), 'no 0322 code for entered-in-error: a warning');
  ma.status = 'not-done';
  const notDone = Hl7Message.parse(toV2(bundle).stdout);
  assert.equal(notDone.getSegment('RXA').getField(20).toString(), 'RE', 'the first 0322 code the map gives not-done');
});

const csv = (file, extra = []) => run(['--from', 'csv', '--to', 'fhir', '--timezone', '-05:00', ...extra, file]);

test('CSV pain scores and vitals become Bundles Medplum accepts; importing twice is the same', () => {
  const file = path.join(csvDir, 'pain-vitals-1.csv');
  const r = csv(file);
  assert.equal(r.status, 0, r.stderr);
  const bundles = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(bundles.length, 5);
  for (const b of bundles) {
    assert.deepEqual(medplumErrors(b), []);
    for (const e of b.entry) assert.deepEqual(medplumErrors(e.resource), [], e.resource.resourceType);
  }
  const types = (b) => b.entry.map((e) => e.resource.code?.coding[0].code ?? e.resource.resourceType);
  assert.deepEqual(types(bundles[0]), ['Patient', '72514-3', '8867-4', '59408-5', '9279-1', '85354-9']);
  assert.deepEqual(types(bundles[1]), ['Patient', '8867-4', '59408-5', '9279-1', '85354-9'], 'no pain score in row 2');
  const pain = bundles[0].entry[1].resource;
  assert.equal(pain.valueInteger, 8);
  assert.equal(pain.effectiveDateTime, '2026-11-23T08:55:00-05:00');
  assert.equal(pain.extension[0].extension[0].valueCode, 'before');
  assert.equal(pain.subject.reference, bundles[0].entry[0].fullUrl);
  assert.equal(bundles[0].entry[0].request.url, 'Patient?identifier=urn:ketamine-gateway:assigner:RIVERSIDE_PAIN|MRN-40021');
  assert.match(bundles[0].entry[1].request.url, /^Observation\?identifier=urn:ketamine-gateway:csv:pain-vitals\|/);
  const bp = bundles[0].entry[5].resource;
  assert.deepEqual(bp.component.map((c) => c.valueQuantity.value), [136, 84]);
  assert.equal(bundles[3].entry[0].resource.name[0].family, "O'Brien, Jr.", 'a quoted field with a comma');
  assert.equal(bundles[3].entry[1].resource.effectiveDateTime, '2026-11-23T09:30:00-05:00');
  assert.deepEqual(csv(file).stdout, r.stdout, 'the same file gives the same Bundles');
});

test('CSV errors name row and column; a missing column is refused up front', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kgw-csv-'));
  try {
    const header = 'mrn,family_name,given_name,recorded_at,phase,pain_score,heart_rate,spo2,systolic,diastolic,resp_rate\n';
    const bad = path.join(dir, 'bad.csv');
    writeFileSync(bad, header + 'MRN-1,Doe,Jane,2026-11-23 08:55,before,ten,,,,,\nMRN-1,Doe,Jane,2026-11-23 09:55,during,12,,,,,\n' +
      'MRN-1,Doe,Jane,23.11.2026 10:00,after,3,,,,,\nMRN-1,Doe\n');
    const r = csv(bad);
    assert.equal(r.status, 1);
    assert.ok(r.issues.some((i) => i.row === 1 && i.rule === 'csv-datatype' && /column pain_score/.test(i.location)), r.stderr);
    assert.ok(r.issues.some((i) => i.row === 2 && i.rule.startsWith('clinical-pain')), `pain 12 is over the limits: ${r.stderr}`);
    assert.ok(r.issues.some((i) => i.row === 3 && i.rule === 'csv-datatype' && /column recorded_at/.test(i.location)), r.stderr);
    assert.ok(r.issues.some((i) => i.row === 4 && i.rule === 'csv-columns'), r.stderr);
    assert.equal(r.stdout, '', 'no Bundle for a row with errors');
    const lacking = path.join(dir, 'lacking.csv');
    writeFileSync(lacking, 'mrn,recorded_at\nMRN-1,2026-11-23 08:55\n');
    const l = csv(lacking);
    assert.equal(l.status, 1);
    assert.match(l.stderr, /lacks column\(s\).*pain_score/);
    const unknown = csv(lacking, ['--csv-mapping', 'nope']);
    assert.equal(unknown.status, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CSV in another character set: converted with --charset, refused with its line without', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kgw-csv-'));
  try {
    const header = 'mrn,family_name,given_name,recorded_at,phase,pain_score,heart_rate,spo2,systolic,diastolic,resp_rate\n';
    const file = path.join(dir, 'excel.csv');
    writeFileSync(file, Buffer.concat([Buffer.from(header), Buffer.from('MRN-7,Pe\xf1a,Ren\xe9e,2026-11-23 08:55,before,5,,,,,\n', 'latin1')]));
    const refused = csv(file);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /line 2 of the CSV input is not UTF-8/);
    const r = csv(file, ['--charset', 'WINDOWS-1252']);
    assert.equal(r.status, 0, r.stderr);
    const patient = JSON.parse(r.stdout.split('\n')[0]).entry[0].resource;
    assert.deepEqual(patient.name[0], { family: 'Peña', given: ['Renée'] });
    assert.equal(csv(file, ['--charset', 'KLINGON-8']).status, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('progress is shown for a large input when asked (on a terminal it is automatic)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kgw-progress-'));
  try {
    const header = 'mrn,family_name,given_name,recorded_at,phase,pain_score,heart_rate,spo2,systolic,diastolic,resp_rate\n';
    let rows = header;
    for (let i = 0; i < 2000; i++) rows += `MRN-${i},Doe,Jane,2026-11-23 08:55,before,${i % 11},80,97,120,80,14\n`;
    const file = path.join(dir, 'big.csv');
    writeFileSync(file, rows);
    const quiet = csv(file);
    assert.equal(quiet.status, 0);
    assert.equal(quiet.stderr, '', 'not a terminal: no progress');
    const shown = csv(file, ['--progress']);
    assert.match(shown.stderr, /convert: 100% 2000 rows\n$/);
    assert.equal(shown.stdout.trim().split('\n').length, 2000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
