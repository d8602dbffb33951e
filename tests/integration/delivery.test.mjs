// Store-and-forward delivery to a real FHIR server (Medplum's FhirRouter, tests/integration/
// fhir_server.mjs): an RDE^O11 sent over MLLP by a real MLLP client (@medplum/hl7) arrives as a
// MedicationRequest that Medplum's validateResource accepts; with the server down for a while the
// messages are retried and each is delivered exactly once; a message the server refuses becomes a
// dead letter that /admin lists and replays; a folder destination gets whole files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { medplumErrors, peer, sendMessages } from './peers.mjs';
import { spawnSync } from 'node:child_process';
import { freshDataDir, gatewayBin, startGateway, until } from './gateway.mjs';
import { startFhirServer } from './fhir_server.mjs';

const ownDir = process.env.KGW_TEST_DATA_DIR;
const OPERATOR_TOKEN = 'kgw-operator-token-for-the-delivery-tests-0123456789';
const profilesDir = process.env.KGW_PROFILES_DIR;
const { Hl7Server } = peer('@medplum/hl7');

let fhir;
let secure;
let gw;
let folder;
let pharmacy;
const pharmacyMessages = [];
async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
before(async () => {
  fhir = await startFhirServer();
  secure = await startFhirServer({ auth: true });
  // A downstream pharmacy system: a real MLLP peer that keeps what it gets and answers AA.
  const pharmacyPort = await freePort();
  pharmacy = new Hl7Server((connection) => {
    connection.addEventListener('message', ({ message }) => {
      pharmacyMessages.push(message);
      connection.send(message.buildAck());
    });
  });
  await pharmacy.start(pharmacyPort);
  const dataDir = freshDataDir('kgw-delivery-');
  folder = path.join(dataDir, 'out');
  writeFileSync(path.join(dataDir, 'operators'), `# name token\nops-alice ${OPERATOR_TOKEN}\nops-bob ${'b'.repeat(40)}\n`);
  writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({
    profiles_dir: profilesDir,
    http: { operator_tokens_file: path.join(dataDir, 'operators') },
    routing: {
      destinations: {
        registry: { type: 'fhir', url: fhir.base, timeout_ms: 2000, max_attempts: 50, initial_backoff_ms: 50, max_backoff_ms: 400 },
        archive: { type: 'folder', folder },
        pharmacy: { type: 'mllp', host: '127.0.0.1', port: pharmacyPort, timeout_ms: 2000, initial_backoff_ms: 50 },
        outcomes: { type: 'fhir', url: secure.base, initial_backoff_ms: 50, max_backoff_ms: 200,
          oauth2: { token_url: secure.tokenUrl, client_id: 'kgw', client_secret: 's3cret', scope: 'system/*.write' } },
      },
      routes: [
        { name: 'orders-and-administrations', match: { message_type: ['RDE^O11', 'RAS^O17'] }, destinations: ['registry', 'archive'] },
        { name: 'pain-scores-to-the-outcome-registry', match: { message_type: ['ORU^R01'] }, destinations: ['outcomes'] },
        { name: 'rest-orders-to-pharmacy', match: { message_type: [''], resource_type: ['MedicationRequest'] }, destinations: ['pharmacy'] },
      ],
    },
  }));
  gw = await startGateway({ dataDir, args: ['--config', path.join(dataDir, 'config.json')] });
});
after(async () => {
  await gw.stop();
  gw.cleanup();
  await fhir.close();
  await secure.close();
  await pharmacy.stop({ forceDrainTimeoutMs: 100 });
});

const send = (messages) => sendMessages(gw.port, messages);

// Original acknowledgment mode (no MSH-15/16): one AA per message, what Hl7Client waits for.
const rde = readFileSync(path.join(ownDir, 'RDE_O11-ketamine-1.hl7'), 'utf8').replace('|AL|NE|', '|||');
const withControlId = (message, id, order) =>
  message.replace('KET-RDE-0001', id).replaceAll('ORD-7001', order);

test('an RDE^O11 over MLLP reaches the FHIR server as a valid MedicationRequest, and the folder as a file', async () => {
  assert.deepEqual(await send([rde]), ['AA']);
  assert.ok(await until(async () => (await fhir.search('MedicationRequest')).entry?.length === 1), 'delivered');
  const found = await fhir.search('MedicationRequest');
  const mr = found.entry[0].resource;
  assert.equal(mr.medicationCodeableConcept.coding[0].code, '238082');
  assert.deepEqual(medplumErrors(mr), []);
  const patient = await fhir.search('Patient');
  assert.equal(patient.entry.length, 1);
  assert.deepEqual(medplumErrors(patient.entry[0].resource), []);
  assert.ok(await until(async () => readdirSync(folder).filter((f) => f.endsWith('.hl7')).length === 1));
  assert.equal(readFileSync(path.join(folder, readdirSync(folder).find((f) => f.endsWith('.hl7'))), 'utf8'), rde);
});

test('the server down for a while: retried, each message delivered exactly once', async () => {
  fhir.setDown(true);
  const messages = [1, 2, 3, 4, 5].map((i) => withControlId(rde, `KET-DOWN-${i}`, `ORD-DOWN-${i}`));
  assert.deepEqual(await send(messages), ['AA', 'AA', 'AA', 'AA', 'AA'], 'ACKed although the destination is down');
  await new Promise((r) => setTimeout(r, 800));
  assert.ok(fhir.state.requests.filter((r) => r.method === 'POST').length > 1, 'attempts while down');
  fhir.setDown(false);
  assert.ok(await until(async () => (await fhir.search('MedicationRequest')).entry?.length === 6), 'all delivered once up');
  await new Promise((r) => setTimeout(r, 500));
  const orders = (await fhir.placerNumbers()).sort();
  assert.deepEqual(orders, ['ORD-7001', 'ORD-DOWN-1', 'ORD-DOWN-2', 'ORD-DOWN-3', 'ORD-DOWN-4', 'ORD-DOWN-5']);
  assert.equal((await fhir.search('Patient')).entry.length, 1, 'one patient, however often she was sent');
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  assert.match(metrics, /^ketamine_delivery_attempts_total\{destination="registry",result="retry"\} [1-9]\d*$/m);
  assert.match(metrics, /^ketamine_outbox_items\{destination="registry",state="pending"\} 0$/m);
});

test('the same message sent twice is delivered once', async () => {
  const posts = () => fhir.state.requests.filter((r) => r.method === 'POST').length;
  const before = posts();
  const again = withControlId(rde, 'KET-TWICE', 'ORD-TWICE');
  assert.deepEqual(await send([again, again]), ['AA', 'AA']);
  assert.ok(await until(async () => (await fhir.search('MedicationRequest')).entry?.length === 7));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(posts() - before, 1, 'the duplicate was answered from the store, not queued again');
});

test('a message the server refuses becomes a dead letter that an operator replays', async () => {
  const admin = `http://127.0.0.1:${gw.httpPort}/admin`;
  // /admin wants an operator's token; FHIR and health do not.
  const bare = await globalThis.fetch(`${admin}/dead-letters`);
  assert.equal(bare.status, 401);
  assert.match(bare.headers.get('www-authenticate'), /^Bearer realm=/);
  assert.equal((await bare.json()).issue[0].code, 'login');
  const wrong = await globalThis.fetch(`${admin}/dead-letters`, { headers: { Authorization: `Bearer ${'x'.repeat(40)}` } });
  assert.equal(wrong.status, 401);
  assert.equal((await globalThis.fetch(`${admin}/dead-letters/1/replay`, { method: 'POST' })).status, 401);
  assert.equal((await globalThis.fetch(`http://127.0.0.1:${gw.httpPort}/ledger/balances`)).status, 401, 'the ledger too');
  const asBob = await globalThis.fetch(`http://127.0.0.1:${gw.httpPort}/ledger/balances`, { headers: { Authorization: `bearer ${'b'.repeat(40)}` } });
  assert.equal(asBob.status, 200, 'any listed operator, scheme in any case');
  assert.equal((await globalThis.fetch(`http://127.0.0.1:${gw.httpPort}/fhir/metadata`)).status, 200);
  assert.equal((await globalThis.fetch(`http://127.0.0.1:${gw.httpPort}/healthz`)).status, 200);
  const fetch = (url, init = {}) => globalThis.fetch(url, { ...init, headers: { ...init.headers, Authorization: `Bearer ${OPERATOR_TOKEN}` } });
  const count = async () => (await fhir.search('MedicationRequest')).entry?.length ?? 0;
  const before = await count();
  fhir.setReject(true);
  assert.deepEqual(await send([withControlId(rde, 'KET-DEAD-1', 'ORD-DEAD-1')]), ['AA']);
  let dead = [];
  assert.ok(await until(async () => {
    dead = await (await fetch(`${admin}/dead-letters?destination=registry`)).json();
    return dead.length === 1;
  }), 'a 400 is permanent: a dead letter at once, no retries');
  assert.match(dead[0].last_error, /^HTTP 400/);
  assert.equal(dead[0].attempts, 1);
  fhir.setReject(false);
  const replay = await fetch(`${admin}/dead-letters/${dead[0].id}/replay`, { method: 'POST' });
  assert.equal(replay.status, 202);
  assert.ok(await until(async () => (await count()) === before + 1), 'delivered after the replay');
  assert.deepEqual(await (await fetch(`${admin}/dead-letters`)).json(), []);
  const again = await fetch(`${admin}/dead-letters/${dead[0].id}/replay`, { method: 'POST' });
  assert.equal(again.status, 404, 'only a dead letter can be replayed');

  // The same from the command line, on the running gateway's store.
  fhir.setReject(true);
  assert.deepEqual(await send([withControlId(rde, 'KET-DEAD-2', 'ORD-DEAD-2')]), ['AA']);
  const cli = (...args) => spawnSync(gatewayBin, ['outbox', ...args, '--data-dir', gw.dataDir], { encoding: 'utf8' });
  let listed = '';
  assert.ok(await until(async () => (listed = cli('dead-letters', '--destination', 'registry').stdout).trim() !== ''));
  const [id, destination] = listed.trim().split('\t');
  assert.equal(destination, 'registry');
  assert.match(listed, /HTTP 400/);
  fhir.setReject(false);
  const replayed = cli('replay', id);
  assert.equal(replayed.status, 0, replayed.stderr);
  assert.equal(replayed.stdout.trim(), `replayed ${id}`);
  assert.ok(await until(async () => (await count()) === before + 2), 'delivered after the replay from the CLI');
  assert.equal(cli('replay', id).status, 1, 'no longer a dead letter');
  assert.match(cli('stats', 'registry').stdout, /^dead 0$/m);

  // Retention: delivered copies go, the rest stays (serve does this hourly past outbox_retention_days).
  assert.match(cli('prune', '--days', '30').stdout, /^pruned 0 delivered items$/m, 'nothing is 30 days old');
  assert.ok(Number(cli('stats', 'registry').stdout.match(/^delivered (\d+)$/m)[1]) > 0);
  const pruned = cli('prune', '--days', '0');
  assert.equal(pruned.status, 0, pruned.stderr);
  assert.match(pruned.stdout, /^pruned [1-9]\d* delivered items$/m);
  assert.match(cli('stats', 'registry').stdout, /^delivered 0$/m);
  assert.equal(cli('prune').status, 2, 'prune needs --days');
  assert.equal(cli('prune', '--days', '-1').status, 2);
});

test('a replay that would overtake a later delivery of the same patient is held unless forced; every dead letter at once', async () => {
  const admin = `http://127.0.0.1:${gw.httpPort}/admin`;
  const auth = { Authorization: `Bearer ${OPERATOR_TOKEN}` };
  const fetch = (url, init = {}) => globalThis.fetch(url, { ...init, headers: { ...init.headers, ...auth } });
  const cli = (...args) => spawnSync(gatewayBin, ['outbox', ...args, '--data-dir', gw.dataDir], { encoding: 'utf8' });
  const deadLetters = async () => (await (await fetch(`${admin}/dead-letters?destination=registry`)).json());
  const registryState = async (controlId) => (await (await fetch(`${admin}/messages?control_id=${controlId}`)).json())[0]
    ?.deliveries.find((d) => d.destination === 'registry')?.state;
  // The order is refused (a dead letter); the patient's next message goes through.
  fhir.setReject(true);
  assert.deepEqual(await send([withControlId(rde, 'KET-HOLD-1', 'ORD-HOLD-1')]), ['AA']);
  let dead = [];
  assert.ok(await until(async () => (dead = await deadLetters()).length === 1));
  assert.equal(dead[0].state, 'dead');
  assert.equal(dead[0].destination, 'registry');
  fhir.setReject(false);
  assert.deepEqual(await send([withControlId(rde, 'KET-HOLD-2', 'ORD-HOLD-2')]), ['AA']);
  assert.ok(await until(async () => (await registryState('KET-HOLD-2')) === 'delivered'), 'the later message went through');
  const replay = (query = '') => fetch(`${admin}/dead-letters/${dead[0].id}/replay${query}`, { method: 'POST' });
  const held = await replay();
  assert.equal(held.status, 409);
  const outcome = await held.json();
  assert.equal(outcome.resourceType, 'OperationOutcome');
  assert.match(outcome.issue[0].details.text, /would arrive out of order.*force=true/);
  const heldCli = cli('replay', String(dead[0].id));
  assert.equal(heldCli.status, 1);
  assert.match(heldCli.stderr, new RegExp(`dead letter ${dead[0].id} held: item \\d+ of the same patient went to registry after it`));
  assert.equal((await deadLetters()).length, 1, 'held: still a dead letter');
  for (const query of ['?force=maybe', '?destination=registry', '?force=true&x=1']) {
    assert.equal((await replay(query)).status, 400, query);
  }
  assert.equal((await fetch(`${admin}/dead-letters/abc/replay`, { method: 'POST' })).status, 400);
  assert.equal((await fetch(`${admin}/dead-letters/0/replay`, { method: 'POST' })).status, 400);
  const forced = cli('replay', String(dead[0].id), '--force');
  assert.equal(forced.status, 0, forced.stderr);
  assert.equal(forced.stdout.trim(), `replayed ${dead[0].id}`);
  assert.ok(await until(async () => (await registryState('KET-HOLD-1')) === 'delivered'), 'sent anyway');
  // Two refused in a row: one request puts every dead letter of the destination back, oldest first.
  fhir.setReject(true);
  assert.deepEqual(await send([withControlId(rde, 'KET-ALL-1', 'ORD-ALL-1'), withControlId(rde, 'KET-ALL-2', 'ORD-ALL-2')]), ['AA', 'AA']);
  assert.ok(await until(async () => (dead = await deadLetters()).length === 2), JSON.stringify(dead));
  const first = await (await fetch(`${admin}/dead-letters?destination=registry&limit=1`)).json();
  assert.deepEqual(first.map((d) => d.id), [dead[0].id], 'limit: the oldest first');
  for (const query of ['limit=0', 'limit=1001', 'limit=x', 'patient=1']) {
    const r = await fetch(`${admin}/dead-letters?${query}`);
    assert.equal(r.status, 400, query);
    assert.equal((await r.json()).resourceType, 'OperationOutcome', query);
  }
  fhir.setReject(false);
  const all = await fetch(`${admin}/dead-letters/replay?destination=registry`, { method: 'POST' });
  assert.equal(all.status, 202);
  assert.deepEqual(await all.json(), { replayed: dead.map((d) => ({ id: d.id, destination: 'registry' })), held: [] });
  assert.ok(await until(async () => (await registryState('KET-ALL-1')) === 'delivered' &&
    (await registryState('KET-ALL-2')) === 'delivered'), 'delivered after the replay');
  const nothing = await fetch(`${admin}/dead-letters/replay`, { method: 'POST' });
  assert.deepEqual(await nothing.json(), { replayed: [], held: [] });
  assert.equal(cli('replay', '--all').status, 0);
  assert.equal(cli('replay', '--all', '--destination', 'registry').status, 2);
  assert.equal(cli('replay').status, 2);
  assert.equal(cli('replay', '7', '--destination', 'registry').status, 2);
  assert.equal(cli('stats', 'registry', '--force').status, 2);
});

test('an operator traces a message by its control id: its ACK, and what became of each delivery', async () => {
  const admin = `http://127.0.0.1:${gw.httpPort}/admin`;
  const fetch = (url) => globalThis.fetch(url, { headers: { Authorization: `Bearer ${OPERATOR_TOKEN}` } });
  assert.equal((await globalThis.fetch(`${admin}/messages?control_id=KET-TRACE-1`)).status, 401, 'operators only');
  fhir.setReject(true);
  assert.deepEqual(await send([withControlId(rde, 'KET-TRACE-1', 'ORD-TRACE-1')]), ['AA']);
  let traced = [];
  assert.ok(await until(async () => {
    traced = await (await fetch(`${admin}/messages?control_id=KET-TRACE-1`)).json();
    const states = Object.fromEntries((traced[0]?.deliveries ?? []).map((d) => [d.destination, d.state]));
    return states.registry === 'dead' && states.archive === 'delivered';
  }), 'the registry refused it (dead letter), the folder has it');
  assert.equal(traced.length, 1);
  const [message] = traced;
  assert.equal(message.listener, 'mllp');
  assert.equal(message.message_type, 'RDE^O11');
  assert.equal(message.status, 'accepted');
  assert.match(message.acks[0].text, /\rMSA\|AA\|KET-TRACE-1/);
  const registry = message.deliveries.find((d) => d.destination === 'registry');
  assert.match(registry.last_error, /^HTTP 400/);
  assert.equal(registry.attempts, 1);
  assert.equal(message.raw, undefined, 'the list leaves the message text out');
  const facility = message.sending_facility;
  assert.equal((await (await fetch(`${admin}/messages?control_id=KET-TRACE-1&sending_facility=${facility}`)).json()).length, 1);
  assert.deepEqual(await (await fetch(`${admin}/messages?control_id=KET-TRACE-1&sending_facility=ELSEWHERE`)).json(), []);
  assert.deepEqual(await (await fetch(`${admin}/messages?control_id=KET-NEVER-SENT`)).json(), []);
  const one = await fetch(`${admin}/messages/${message.id}`);
  assert.equal(one.status, 200);
  const full = await one.json();
  assert.equal(full.id, message.id);
  assert.match(full.raw, /^MSH\|.*\|KET-TRACE-1\|/);
  assert.deepEqual(full.deliveries, message.deliveries);
  for (const [url, status] of [['/messages', 400], ['/messages?control_id=X&limit=0', 400], ['/messages?control_id=X&limit=abc', 400],
    ['/messages?control_id=X&patient=Y', 400], ['/messages/abc', 400], ['/messages/0', 400], ['/messages/999999999', 404]]) {
    const r = await fetch(`${admin}${url}`);
    assert.equal(r.status, status, url);
    assert.equal((await r.json()).resourceType, 'OperationOutcome', url);
  }
  // The same from the command line.
  const cli = (...args) => spawnSync(gatewayBin, ['outbox', ...args, '--data-dir', gw.dataDir], { encoding: 'utf8' });
  const trace = cli('trace', 'KET-TRACE-1');
  assert.equal(trace.status, 0, trace.stderr);
  assert.match(trace.stdout, new RegExp(`^message ${message.id}\t.*\tmllp\t.*\tRDE\\^O11\taccepted\tAA$`, 'm'));
  assert.match(trace.stdout, /^ {2}delivery \d+\tregistry\tdead\t1 attempts\t.*\tHTTP 400/m);
  assert.match(trace.stdout, /^ {2}delivery \d+\tarchive\tdelivered\t/m);
  const none = cli('trace', 'KET-NEVER-SENT');
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no message with control id KET-NEVER-SENT/);
  assert.equal(cli('trace').status, 2);
  // Put things back: the dead letter replayed and delivered.
  fhir.setReject(false);
  assert.equal((await globalThis.fetch(`${admin}/dead-letters/${registry.id}/replay`, {
    method: 'POST', headers: { Authorization: `Bearer ${OPERATOR_TOKEN}` } })).status, 202);
  assert.ok(await until(async () => (await (await fetch(`${admin}/messages/${message.id}`)).json())
    .deliveries.every((d) => d.state === 'delivered')), 'the trace follows the replay');
});

test('a MedicationRequest POSTed to the gateway reaches the pharmacy over MLLP as an RDE^O11', async () => {
  const base = gw.fhirBase;
  const example = (name) => JSON.parse(readFileSync(path.join(profilesDir, 'examples', 'valid', name), 'utf8'));
  const put = (resource) => fetch(`${base}/${resource.resourceType}/${resource.id}`, {
    method: 'PUT', headers: { 'Content-Type': 'application/fhir+json' }, body: JSON.stringify(resource) });
  for (const name of ['Patient-infusion-patient.json', 'Practitioner-ketamine-prescriber.json', 'Observation-body-weight.json']) {
    assert.ok((await put(example(name))).status < 300, name);
  }
  const order = example('MedicationRequest-ketamine-infusion.json');
  delete order.id;
  const created = await fetch(`${base}/MedicationRequest`, {
    method: 'POST', headers: { 'Content-Type': 'application/fhir+json' }, body: JSON.stringify(order) });
  assert.equal(created.status, 201, await created.text());
  assert.ok(await until(async () => pharmacyMessages.length === 1), 'the pharmacy got the order');
  const rdeOut = pharmacyMessages[0];
  assert.equal(rdeOut.getSegment('MSH').getField(9).toString(), 'RDE^O11^RDE_O11');
  assert.equal(rdeOut.getSegment('RXE').getField(2).getComponent(1), '238082');
  assert.equal(rdeOut.getSegment('PID').getField(5).getComponent(1), 'Testpatient', 'the patient came from the store');
  assert.equal(rdeOut.getSegment('RXE').getField(13).getComponent(13), 'DEA');

  // A conditional create that finds the order already there queues nothing.
  const token = `${order.identifier[0].system}|${order.identifier[0].value}`;
  const again = await fetch(`${base}/MedicationRequest`, { method: 'POST',
    headers: { 'Content-Type': 'application/fhir+json', 'If-None-Exist': `identifier=${token}` }, body: JSON.stringify(order) });
  assert.equal(again.status, 200);
  // A transaction's resources are routed like single writes.
  const second = { ...order, identifier: [{ ...order.identifier[0], value: 'ORD-TX-1' }] };
  const tx = await fetch(base, { method: 'POST', headers: { 'Content-Type': 'application/fhir+json' }, body: JSON.stringify({
    resourceType: 'Bundle', type: 'transaction',
    entry: [{ resource: second, request: { method: 'POST', url: 'MedicationRequest' } }] }) });
  assert.equal(tx.status, 200, await tx.text());
  assert.ok(await until(async () => pharmacyMessages.length === 2), 'the order of the transaction reached the pharmacy');
  assert.equal(pharmacyMessages[1].getSegment('MSH').getField(9).toString(), 'RDE^O11^RDE_O11');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(pharmacyMessages.length, 2, 'nothing for the conditional create that found the first order');

  // Traced from the order: the REST request that made it, and its delivery to the pharmacy.
  const orderId = (await (await fetch(`${base}/MedicationRequest?identifier=${encodeURIComponent(token)}`)).json()).entry[0].resource.id;
  const traced = await (await fetch(`http://127.0.0.1:${gw.httpPort}/admin/messages?resource=MedicationRequest/${orderId}`,
    { headers: { Authorization: `Bearer ${OPERATOR_TOKEN}` } })).json();
  assert.equal(traced.length, 1, JSON.stringify(traced));
  assert.equal(traced[0].listener, 'http');
  assert.equal(traced[0].message_type, 'POST MedicationRequest');
  assert.deepEqual(traced[0].deliveries.map((d) => [d.destination, d.state]), [['pharmacy', 'delivered']]);
  const cli = spawnSync(gatewayBin, ['outbox', 'trace', '--resource', `MedicationRequest/${orderId}`, '--data-dir', gw.dataDir],
    { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /^message \d+\t.*\thttp\t\|\tPOST MedicationRequest\taccepted\t-$/m);
  assert.match(cli.stdout, /^ {2}delivery \d+\tpharmacy\tdelivered\t/m);
  const none = spawnSync(gatewayBin, ['outbox', 'trace', '--resource', 'MedicationRequest/none', '--data-dir', gw.dataDir],
    { encoding: 'utf8' });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no message wrote MedicationRequest\/none/);
  const bad = await fetch(`http://127.0.0.1:${gw.httpPort}/admin/messages?resource=Encounter/1`,
    { headers: { Authorization: `Bearer ${OPERATOR_TOKEN}` } });
  assert.equal(bad.status, 400);
  const both = await fetch(`http://127.0.0.1:${gw.httpPort}/admin/messages?resource=MedicationRequest/${orderId}&control_id=X`,
    { headers: { Authorization: `Bearer ${OPERATOR_TOKEN}` } });
  assert.equal(both.status, 400, 'one of control_id and resource');
});

test('OAuth2 client credentials: a token from the token endpoint; a 401 is retried after a new token', async () => {
  const oru = readFileSync(path.join(ownDir, 'ORU_R01-ketamine-1.hl7'), 'utf8').replace('|AL|NE|', '|||');
  const count = async () => (await secure.search('Observation')).entry?.length ?? 0;
  assert.deepEqual(await send([oru]), ['AA']);
  assert.ok(await until(async () => (await count()) === 6), 'six observations delivered with a token');
  assert.equal(secure.state.tokensIssued, 1);
  secure.revokeTokens();
  assert.deepEqual(await send([oru.replace('KET-ORU-0001', 'KET-ORU-0002')]), ['AA']);
  assert.ok(await until(async () => secure.state.tokensIssued === 2), 'a new token after the 401');
  assert.ok(secure.state.unauthorized >= 1);
  await new Promise((r) => setTimeout(r, 300));
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  assert.match(metrics, /^ketamine_outbox_items\{destination="outcomes",state="pending"\} 0$/m);
  assert.match(metrics, /^ketamine_outbox_items\{destination="outcomes",state="dead"\} 0$/m);
});
