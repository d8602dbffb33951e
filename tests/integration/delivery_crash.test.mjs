// The gateway killed with SIGKILL while four MLLP clients send orders and its worker delivers them
// to a real FHIR server (Medplum's FhirRouter): after a restart on the same data folder, and the
// clients' resends of what was not acknowledged, every acknowledged order is at the server exactly
// once (the outbox survived, and resends after an unknown outcome update instead of creating);
// once with one patient's orders one per request, once with five patients' orders merged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { peer, sendUntilStopped } from './peers.mjs';
import { freshDataDir, startGateway, until } from './gateway.mjs';
import { startFhirServer } from './fhir_server.mjs';

const ownDir = process.env.KGW_TEST_DATA_DIR;
const profilesDir = process.env.KGW_PROFILES_DIR;
const { Hl7Client } = peer('@medplum/hl7');
const { Hl7Message } = peer('@medplum/core');
const rde = readFileSync(path.join(ownDir, 'RDE_O11-ketamine-1.hl7'), 'utf8').replace('|AL|NE|', '|||');
const orderOf = (patients) => (n) => rde.replace('KET-RDE-0001', `KET-CRASH-${n}`).replaceAll('ORD-7001', `ORD-CRASH-${n}`)
  .replace('MRN-40021', patients === 1 ? 'MRN-40021' : `MRN-CRASH-${n % patients}`);

// `patients`: the orders are spread over that many patients; `items`: the destination's
// items_per_request (orders of different patients merged into one transaction per request).
async function killUnderLoad({ patients, items }) {
  const order = orderOf(patients);
  const fhir = await startFhirServer();
  const dataDir = freshDataDir('kgw-delivery-crash-');
  const config = path.join(dataDir, 'config.json');
  writeFileSync(config, JSON.stringify({
    profiles_dir: profilesDir,
    routing: {
      destinations: { registry: { type: 'fhir', url: fhir.base, initial_backoff_ms: 50, max_backoff_ms: 500, max_attempts: 1000,
        items_per_request: items } },
      routes: [{ match: { message_type: ['RDE^O11'] }, destinations: ['registry'] }],
    },
  }));
  let gw = await startGateway({ dataDir, args: ['--config', config] });
  const load = sendUntilStopped([0, 1, 2, 3].map(() => gw.port), order);
  const { acked, sent } = load;
  assert.ok(await until(async () => acked.size >= 150, 30000), 'traffic flowing');
  await gw.stop('SIGKILL');
  await load.stop();
  const ackedBeforeKill = acked.size;

  gw = await startGateway({ dataDir, args: ['--config', config] });
  const client = new Hl7Client({ host: '127.0.0.1', port: gw.port });
  for (const n of [...sent]) {
    if (acked.has(n)) continue;
    const ack = await client.sendAndWait(Hl7Message.parse(order(n)));
    assert.equal(ack.getSegment('MSA').getField(1).toString(), 'AA');
    acked.add(n);
  }
  client.close();

  assert.ok(await until(async () => (await fhir.placerNumbers()).length >= acked.size, 60000), 'everything delivered');
  await new Promise((r) => setTimeout(r, 500));
  const orders = await fhir.placerNumbers();
  const counts = new Map();
  for (const o of orders) counts.set(o, (counts.get(o) ?? 0) + 1);
  for (const n of acked) assert.equal(counts.get(`ORD-CRASH-${n}`), 1, `ORD-CRASH-${n}`);
  assert.equal(orders.length, acked.size, 'nothing that was not sent, nothing twice');
  assert.equal((await fhir.search('Patient', '_count=100')).entry.length, Math.min(patients, acked.size));
  const merged = fhir.state.requests.filter((r) => r.orders > 1).length;
  if (items > 1) assert.ok(merged > 0, 'some requests carried several orders');
  console.log(`delivery crash test (${patients} patients, ${items} per request): ${merged} merged requests, ${sent.size} sent, ${ackedBeforeKill} acknowledged before the kill, ${orders.length} orders at the server`);
  await gw.stop();
  gw.cleanup();
  await fhir.close();
}

test('SIGKILL under load: every acknowledged order is delivered exactly once after the restart', () =>
  killUnderLoad({ patients: 1, items: 1 }));

test('the same with orders of five patients merged up to eight per request', () => killUnderLoad({ patients: 5, items: 8 }));
