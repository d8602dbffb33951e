// Merged deliveries (items_per_request) to a real FHIR server (Medplum's FhirRouter): orders of
// several patients that waited while the server was down go to it as a few transactions instead of
// one request each; every order arrives once, valid for Medplum, and the later message about an
// order wins (per-patient order holds); an order the server refuses inside a merged transaction
// becomes the only dead letter, the orders merged with it are delivered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { medplumErrors, sendMessages } from './peers.mjs';
import { freshDataDir, startGateway, until } from './gateway.mjs';
import { startFhirServer } from './fhir_server.mjs';

const OPERATOR_TOKEN = 'kgw-operator-token-for-the-merge-tests-0123456789';

let fhir;
let gw;
before(async () => {
  fhir = await startFhirServer();
  const dataDir = freshDataDir('kgw-merge-');
  writeFileSync(path.join(dataDir, 'operators'), `ops ${OPERATOR_TOKEN}\n`);
  writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({
    profiles_dir: process.env.KGW_PROFILES_DIR,
    http: { operator_tokens_file: path.join(dataDir, 'operators') },
    routing: {
      destinations: {
        registry: { type: 'fhir', url: fhir.base, timeout_ms: 5000, max_attempts: 50, initial_backoff_ms: 50, max_backoff_ms: 100,
          concurrency: 2, items_per_request: 10 },
      },
      routes: [{ name: 'orders', match: { message_type: ['RDE^O11'] }, destinations: ['registry'] }],
    },
  }));
  gw = await startGateway({ dataDir, args: ['--config', path.join(dataDir, 'config.json')] });
});
after(async () => {
  await gw.stop();
  gw.cleanup();
  await fhir.close();
});

// Original acknowledgment mode (no MSH-15/16): one AA per message.
const rde = readFileSync(path.join(process.env.KGW_TEST_DATA_DIR, 'RDE_O11-ketamine-1.hl7'), 'utf8').replace('|AL|NE|', '|||');
// Patient `p`'s order, message `n` about it, with the infusion rate of RXE-3.
const order = (p, n, rate) => rde.replace('KET-RDE-0001', `KET-MERGE-${p}-${n}`).replace('MRN-40021', `MRN-M${p}`)
  .replaceAll('ORD-7001', `ORD-M${p}`).replaceAll('RX-9001', `RX-M${p}`).replace('|0.35|', `|${rate}|`);

const send = (messages) => sendMessages(gw.port, messages);

const rateOf = (mr) => mr.dosageInstruction[0].doseAndRate[0].rateQuantity.value;

test('orders that waited go as a few merged transactions: each once, valid, the later message about an order wins', async () => {
  fhir.setDown(true);
  const first = [1, 2, 3, 4, 5, 6].map((p) => order(p, 1, '0.35'));
  const second = [1, 2, 3, 4, 5, 6].map((p) => order(p, 2, '0.3'));
  assert.deepEqual(await send([...first, ...second]), Array(12).fill('AA'));
  await new Promise((r) => setTimeout(r, 500));
  const before = fhir.state.requests.length;
  fhir.setDown(false);
  const orders = async () => (await fhir.search('MedicationRequest', '_count=100')).entry ?? [];
  assert.ok(await until(async () => {
    const found = await orders();
    return found.length === 6 && found.every((e) => rateOf(e.resource) === 0.3);
  }), 'six orders, each at the rate of its later message');
  await new Promise((r) => setTimeout(r, 500));
  const found = await orders();
  assert.deepEqual((await fhir.placerNumbers()).sort(),
    ['ORD-M1', 'ORD-M2', 'ORD-M3', 'ORD-M4', 'ORD-M5', 'ORD-M6']);
  for (const e of found) assert.deepEqual(medplumErrors(e.resource), []);
  const patients = (await fhir.search('Patient', '_count=100')).entry;
  assert.equal(patients.length, 6);
  for (const e of patients) assert.deepEqual(medplumErrors(e.resource), []);
  assert.equal((await fhir.search('Practitioner')).entry.length, 1, 'the prescriber written once, whoever mentions her');
  const after = fhir.state.requests.slice(before).filter((r) => r.method === 'POST');
  assert.equal(after.reduce((n, r) => n + r.orders, 0), 12, 'twelve messages, each once');
  assert.ok(after.length < 12, `fewer requests than messages (${after.length})`);
  assert.ok(after.some((r) => r.orders > 1), 'some requests carry several orders');
  assert.ok(after.every((r) => r.key.startsWith('merged-') === r.orders > 1), 'a merged request has a key of its own');
});

test('an order the server refuses inside a merged transaction is the only dead letter', async () => {
  const admin = `http://127.0.0.1:${gw.httpPort}/admin`;
  const auth = { headers: { Authorization: `Bearer ${OPERATOR_TOKEN}` } };
  fhir.setReject('MRN-M9');  // the server refuses patient 9's order whenever it sees it
  // Patient 7's order goes alone and its answer is held back; the three after it queue meanwhile
  // and go together in the worker's next round, whatever the machine's speed.
  const release = fhir.holdAnswers();
  const sent = fhir.state.requests.length;
  assert.deepEqual(await send([order(7, 1, '0.35')]), ['AA']);
  assert.ok(await until(async () => fhir.state.requests.length > sent), 'patient 7\'s order on the wire');
  assert.deepEqual(await send([8, 9, 10].map((p) => order(p, 1, '0.35'))), Array(3).fill('AA'));
  release();
  let dead = [];
  assert.ok(await until(async () => {
    dead = await (await fetch(`${admin}/dead-letters?destination=registry`, auth)).json();
    return dead.length === 1;
  }), 'one dead letter');
  assert.match(dead[0].last_error, /^HTTP 400/);
  assert.ok(await until(async () => (await fhir.placerNumbers()).length === 9), 'the three others delivered');
  assert.deepEqual((await fhir.placerNumbers()).filter((id) => ['ORD-M7', 'ORD-M8', 'ORD-M9', 'ORD-M10'].includes(id)).sort(),
    ['ORD-M10', 'ORD-M7', 'ORD-M8']);
  assert.ok(fhir.state.requests.some((r) => r.refused && r.orders > 1), 'refused merged, then each alone');
  fhir.setReject(false);
  assert.equal((await fetch(`${admin}/dead-letters/${dead[0].id}/replay`, { method: 'POST', ...auth })).status, 202);
  assert.ok(await until(async () => (await fhir.placerNumbers()).includes('ORD-M9')), 'delivered after the replay');
});
