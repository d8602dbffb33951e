// The Schedule III ledger through the running gateway: an RAS^O17 sent twice over MLLP by a real
// MLLP client (@medplum/hl7) posts exactly one administration and one waste; a MedicationAdministration
// POSTed to the FHIR facade posts with its lot read from the store; manual postings over REST are
// refused with an OperationOutcome naming the field; the CLI writes to the same ledger while the
// gateway runs and the chain stays valid; the FHIR reports pass Medplum's validator.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { medplumErrors, peer } from './peers.mjs';
import { freshDataDir, gatewayBin, startGateway, until } from './gateway.mjs';

const { Hl7Client } = peer('@medplum/hl7');
const { Hl7Message } = peer('@medplum/core');
const ownDir = process.env.KGW_TEST_DATA_DIR;
const profilesDir = process.env.KGW_PROFILES_DIR;

let gw;
let dataDir;
let base;

function cli(...args) {
  return spawnSync(gatewayBin, ['ledger', ...args, '--data-dir', dataDir], { encoding: 'utf8' });
}

async function json(url, init) {
  const response = await fetch(`${base}${url}`, init);
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text };
}

async function entries() {
  const text = await (await fetch(`${base}/ledger/entries`)).text();
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

before(async () => {
  dataDir = freshDataDir('kgw-ledger-');
  writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({
    profiles_dir: profilesDir,
    ledger: { registration: 'AB1234563', registrant_name: 'Riverside Pain Clinic', location: 'main' },
    routing: {
      destinations: { ledger: { type: 'ledger' } },
      routes: [{ name: 'schedule-iii', match: { resource_type: ['MedicationAdministration', 'MedicationRequest'] }, destinations: ['ledger'] }],
    },
  }));
  gw = await startGateway({ dataDir, args: ['--config', path.join(dataDir, 'config.json')] });
  base = `http://127.0.0.1:${gw.httpPort}`;
  // The lot arrives: a receipt from the command line while the gateway runs.
  const received = cli('receive', '--ndc', '42023-113-10', '--lot', 'LOT-KX2291', '--containers', '2', '--container-amount', '500',
    '--container-volume-ml', '10', '--product', 'Ketamine HCl 50 mg/mL', '--supplier-name', 'Acme Wholesale',
    '--supplier-dea', 'BB1388568', '--invoice', 'INV-77', '--invoice-containers', '2', '--by', 'JL', '--time', '2026-11-20T09:00:00-05:00');
  assert.equal(received.status, 0, received.stderr);
  assert.match(received.stdout, /appended entry 1: receipt lot LOT-KX2291 at main, 1000 mg, balance 1000 mg/);
});

after(async () => {
  await gw.stop();
  gw.cleanup();
});

test('an RAS^O17 sent twice over MLLP posts one administration and one waste', async () => {
  const ras = readFileSync(path.join(ownDir, 'RAS_O17-ketamine-1.hl7'), 'utf8');
  const client = new Hl7Client({ host: '127.0.0.1', port: gw.port });
  try {
    for (let i = 0; i < 2; i++) {
      const ack = await client.sendAndWait(Hl7Message.parse(ras));
      assert.equal(ack.getSegment('MSA').getField(1).toString(), 'AA');
    }
  } finally {
    client.close();
  }
  assert.ok(await until(async () => (await entries()).some((e) => e.kind === 'waste')), 'posted');
  await new Promise((r) => setTimeout(r, 500));  // a second posting would have arrived by now
  const fromRas = (await entries()).filter((e) => e.source.includes('KET-RAS-0001'));
  assert.deepEqual(fromRas.map((e) => e.kind), ['administration', 'waste']);
  assert.equal(fromRas[0].quantity_mg, '-112');
  assert.equal(fromRas[0].body.by, 'Sam Lee');
  assert.equal(fromRas[0].body.details.patient.name, 'Alex J Testpatient');
  assert.equal(fromRas[0].body.details.order, 'ORD-7001');
  assert.deepEqual(fromRas[0].body.flags, []);
  assert.equal(fromRas[1].body.details.witness, 'Kim Ortiz');
  const balances = await json('/ledger/balances');
  assert.deepEqual(balances.body.map((b) => [b.location, b.lot, b.balance_mg]), [['main', 'LOT-KX2291', '800']]);
});

test('a MedicationAdministration POSTed to the FHIR facade posts with the lot of its stored Medication', async () => {
  const read = (f) => JSON.parse(readFileSync(path.join(profilesDir, 'examples/valid', f), 'utf8'));
  for (const f of ['Medication-ketamine-10mg-ml.json', 'Patient-infusion-patient.json']) {
    const r = read(f);
    const put = await fetch(`${base}/fhir/${r.resourceType}/${r.id}`, {
      method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(r),
    });
    assert.ok(put.status === 200 || put.status === 201, `${f}: ${put.status}`);
  }
  const ma = read('MedicationAdministration-ketamine-infusion.json');
  delete ma.id;
  ma.dosage.dose.value = 50;
  delete ma.extension;  // no waste this time
  const created = await fetch(`${base}/fhir/MedicationAdministration`, {
    method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(ma),
  });
  assert.equal(created.status, 201, await created.text());
  assert.ok(await until(async () => (await entries()).some((e) => e.kind === 'administration' && e.quantity_mg === '-50')));
  const posted = (await entries()).find((e) => e.quantity_mg === '-50');
  assert.equal(posted.lot, 'LOT-KX2291');
  assert.equal(posted.ndc, '42023-113-10');
  assert.equal(posted.balance_mg, '750');
});

test('manual postings over REST: appended, or refused with an OperationOutcome that names the field', async () => {
  const post = (body, type = 'application/json') => json('/ledger/entries', { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify(body) });
  const ok = await post({ kind: 'waste', lot: 'LOT-KX2291', amount: '0.5', reason: 'drawn-not-used', by: 'Sam Lee', witness: 'Kim Ortiz', request_id: 'w-1' });
  assert.equal(ok.status, 201);
  assert.equal(ok.body.entries[0].balance_mg, '749.5');
  const again = await post({ kind: 'waste', lot: 'LOT-KX2291', amount: '0.5', reason: 'drawn-not-used', by: 'Sam Lee', witness: 'Kim Ortiz', request_id: 'w-1' });
  assert.equal(again.status, 200);
  assert.equal(again.body.duplicates, 1);
  const overdraw = await post({ kind: 'administration', lot: 'LOT-KX2291', amount: '5000', by: 'Sam Lee', patient: { name: 'P' } });
  assert.equal(overdraw.status, 422);
  assert.equal(overdraw.body.resourceType, 'OperationOutcome');
  assert.match(overdraw.body.issue[0].details.text, /would make lot LOT-KX2291 at main negative \(balance 749.5 mg\)/);
  const badDea = await post({ kind: 'receipt', ndc: '1', lot: 'L2', containers: 1, container_amount: '5', by: 'JL', supplier: { name: 'X', dea: 'AB1234564' } });
  assert.equal(badDea.status, 422);
  assert.deepEqual(badDea.body.issue[0].expression, ['supplier.dea']);
  const inArray = await post([{ kind: 'waste', lot: 'LOT-KX2291', amount: '1', reason: 'r', by: 'A', witness: 'B' }, { kind: 'waste', lot: 'LOT-KX2291', by: 'A' }]);
  assert.equal(inArray.status, 422);
  assert.deepEqual(inArray.body.issue[0].expression, ['[1].amount']);
  assert.equal((await post({ kind: 'waste' }, 'text/plain')).status, 415);
  assert.equal((await json('/ledger/entries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"kind":' })).status, 400);
  assert.equal((await json('/ledger/verify', { method: 'DELETE' })).status, 405);
  assert.equal((await json('/ledger/nothing')).status, 404);
});

test('the CLI and the gateway write at the same time; the chain stays valid', async () => {
  const runs = [];
  for (let i = 0; i < 4; i++) {
    runs.push(new Promise((resolve) => {
      const p = spawn(gatewayBin, ['ledger', 'waste', '--lot', 'LOT-KX2291', '--amount', '1', '--reason', 'r', '--by', `CLI-${i}`,
        '--witness', 'W', '--data-dir', dataDir], { stdio: 'ignore' });
      p.on('exit', resolve);
    }));
  }
  const rest = [];
  for (let i = 0; i < 10; i++) {
    rest.push(fetch(`${base}/ledger/entries`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'waste', lot: 'LOT-KX2291', amount: '1', reason: 'r', by: `REST-${i}`, witness: 'W' }),
    }).then((r) => r.status));
  }
  assert.deepEqual(await Promise.all(runs), [0, 0, 0, 0]);
  assert.deepEqual(await Promise.all(rest), Array(10).fill(201));
  const verified = cli('verify');
  assert.equal(verified.status, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, /^ledger verified: \d+ entries, head \d+:[0-9a-f]{64}$/m);
  const rest_verdict = await json('/ledger/verify');
  assert.equal(rest_verdict.body.ok, true);
  const balances = await json('/ledger/balances');
  assert.equal(balances.body[0].balance_mg, '735.5');  // 749.5 - 4 - 10
});

test('the FHIR forms of the reports pass Medplum\'s validator', async () => {
  const count = cli('count', '--lot', 'LOT-KX2291', '--amount', '730', '--method', 'estimated', '--by', 'JL');  // 5.5 mg short
  assert.equal(count.status, 0, count.stderr);
  for (const name of ['administration-log', 'inventory', 'discrepancies']) {
    const r = await json(`/ledger/reports/${name}?format=fhir`);
    assert.equal(r.status, 200);
    assert.equal(r.type, 'application/fhir+json');
    assert.equal(r.body.resourceType, 'Bundle');
    assert.ok(r.body.entry.length > 0, name);
    assert.deepEqual(medplumErrors(r.body), [], name);
  }
  const csv = await json('/ledger/reports/administration-log?format=csv');
  assert.match(csv.type, /^text\/csv/);
  assert.match(csv.body, /^seq,time,kind,location,ndc,product,form,container_mg,lot,amount_mg,patient_id,patient_name/);
  assert.match(csv.body, /Alex J Testpatient/);
  const waste = cli('report', 'waste-by-clinician', '--format', 'json');
  assert.equal(waste.status, 0, waste.stderr);
  assert.ok(JSON.parse(waste.stdout).rows.some((r) => r.clinician === 'Sam Lee'));
  const discrepancies = cli('report', 'discrepancies');
  assert.match(discrepancies.stdout, /count-mismatch,high,main,LOT-KX2291,"counted 730 mg, book 735.5 mg, difference -5.5 mg"/);
  const shown = cli('export', '--format', 'csv', '--progress');
  assert.equal(shown.status, 0);
  assert.match(shown.stderr, /ledger entries: 100% \d+ entries\n$/);
  const exported = cli('export', '--format', 'ndjson');
  assert.equal(exported.status, 0);
  const lines = exported.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines[0].prev_hash, '0'.repeat(64));
  assert.equal(lines[1].prev_hash, lines[0].hash);
  assert.equal(cli('report', 'nothing').status, 2);
  assert.equal(cli('frobnicate').status, 2);
  const refused = cli('administer', '--lot', 'LOT-KX2291', '--amount', '99999', '--patient-name', 'P', '--by', 'S');
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^ketamine-gateway ledger: refused: administration of 99999 mg would make lot LOT-KX2291 at main negative/);
});
