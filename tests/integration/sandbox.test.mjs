// The sandbox (serve without a config): every HL7 v2 message a real MLLP client (@medplum/hl7)
// sends is also written into the sandbox's own FHIR store, so a developer reads at once what the
// gateway made; the seeded examples stay out of the Schedule III ledger, the message's
// administration and waste go in once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { medplumErrors, peer } from './peers.mjs';
import { startGateway, until } from './gateway.mjs';

const { Hl7Client } = peer('@medplum/hl7');
const { Hl7Message } = peer('@medplum/core');
const ownDir = process.env.KGW_TEST_DATA_DIR;

let gw;
let base;
before(async () => {
  gw = await startGateway();
  base = `http://127.0.0.1:${gw.httpPort}`;
});
after(async () => {
  await gw.stop();
  gw.cleanup();
});

async function send(file) {
  const client = new Hl7Client({ host: '127.0.0.1', port: gw.port });
  try {
    const ack = await client.sendAndWait(Hl7Message.parse(readFileSync(path.join(ownDir, file), 'utf8')));
    return ack.getSegment('MSA').getField(1).toString();
  } finally {
    client.close();
  }
}

const search = async (query) => (await fetch(`${base}/fhir/${query}`)).json();
const ledger = async () => (await (await fetch(`${base}/ledger/entries`)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));

test('what an RAS^O17 and an ORU^R01 convert to is readable in the sandbox at once', async () => {
  const seeded = (await search('MedicationAdministration')).total;
  assert.deepEqual(await ledger(), [], 'the seeded examples are not ledger postings');
  const observations = (await search('Observation?_count=100')).total;
  assert.equal(await send('RAS_O17-ketamine-1.hl7'), 'AA');
  assert.equal(await send('ORU_R01-ketamine-1.hl7'), 'AA');
  assert.ok(await until(async () => (await search('MedicationAdministration')).total === seeded + 1), 'the administration');
  assert.ok(await until(async () => (await search('Observation?_count=100')).total > observations), 'the observations');
  const found = await search('MedicationAdministration?status=completed');
  const made = found.entry.map((e) => e.resource).find((r) => r.effectivePeriod?.start === '2026-11-23T09:05:00-05:00' && !r.id.startsWith('ket-'));
  assert.ok(made, 'the converted administration');
  assert.deepEqual(medplumErrors(made), []);
  const patient = await search(`${made.subject.reference}`);
  assert.equal(patient.resourceType, 'Patient', 'its reference resolves in the sandbox');
  assert.ok(await until(async () => (await ledger()).length === 2));
  assert.deepEqual((await ledger()).map((e) => e.kind), ['administration', 'waste']);
  // The same message again: answered from the store, nothing new anywhere.
  assert.equal(await send('RAS_O17-ketamine-1.hl7'), 'AA');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await search('MedicationAdministration')).total, seeded + 1);
  assert.equal((await ledger()).length, 2);
  const sandbox = await (await fetch(`${base}/admin/outbox/sandbox`)).json();
  assert.deepEqual([sandbox.delivered, sandbox.dead, sandbox.pending], [2, 0, 0]);
});
