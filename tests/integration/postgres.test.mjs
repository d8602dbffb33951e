// Two gateway instances on one real PostgreSQL server (the Debian package, a throwaway cluster made
// by pg_cluster.sh): orders sent to either over MLLP reach a real FHIR server (Medplum's FhirRouter)
// exactly once, a message sent to both is answered from the shared store, what one stored the
// other serves at /fhir, and when one is killed with SIGKILL the other delivers what it had
// acknowledged (its leased items once the lease runs out).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendMessages, sendUntilStopped } from './peers.mjs';
import { freshDataDir, gatewayBin, startGateway, until } from './gateway.mjs';
import { startFhirServer } from './fhir_server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ownDir = process.env.KGW_TEST_DATA_DIR;
const profilesDir = process.env.KGW_PROFILES_DIR;
const rde = readFileSync(path.join(ownDir, 'RDE_O11-ketamine-1.hl7'), 'utf8').replace('|AL|NE|', '|||');
// Orders of ten patients: deliveries are ordered per patient, so several go out at once.
const order = (n) => rde.replace('KET-RDE-0001', `KET-PG-${n}`).replaceAll('ORD-7001', `ORD-PG-${n}`)
  .replaceAll('MRN-40021', `MRN-PG-${n % 10}`);

const cluster = freshDataDir('kgw-pg-');
let conninfo;
let fhir;
const gateways = [];

function pg(...args) {
  const r = spawnSync('bash', [path.join(here, 'pg_cluster.sh'), ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

function configFile(instance, extra = {}) {
  const dir = freshDataDir(`kgw-pg-${instance}-`);
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({
    profiles_dir: profilesDir,
    store: { type: 'postgres', conninfo, instance, lease_ms: 2000 },
    routing: {
      destinations: {
        registry: { type: 'fhir', url: fhir.base, initial_backoff_ms: 50, max_backoff_ms: 400, max_attempts: 1000 },
        ledger: { type: 'ledger', instances: ['gw-a'] },
      },
      routes: [{ match: { message_type: ['RDE^O11'] }, destinations: ['registry'] }],
    },
    ...extra,
  }));
  return { dir, file };
}

async function start(instance) {
  const { dir, file } = configFile(instance);
  const gw = await startGateway({ dataDir: dir, args: ['--config', file] });
  gateways.push(gw);
  return gw;
}

const send = (gw, messages) => sendMessages(gw.port, messages);


before(async () => {
  pg('start', cluster);
  pg('createdb', cluster, 'gateway');
  conninfo = `host=${cluster} port=5432 user=kgw dbname=gateway`;
  fhir = await startFhirServer();
});
after(async () => {
  for (const gw of gateways) {
    await gw.stop('SIGKILL');
    gw.cleanup();
  }
  await fhir.close();
  pg('stop', cluster);
});

test('a ledger destination on a shared store must name the one instance that keeps the ledger', () => {
  const { dir, file } = configFile('gw-x');
  const config = JSON.parse(readFileSync(file, 'utf8'));
  delete config.routing.destinations.ledger.instances;
  writeFileSync(file, JSON.stringify(config));
  const r = spawnSync(gatewayBin, ['serve', '--config', file, '--data-dir', dir, '--mllp-port', '0', '--http-port', '0'],
    { encoding: 'utf8', timeout: 10000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /routing\.destinations\.ledger\.instances/);
  rmSync(dir, { recursive: true, force: true });
});

test('two instances share the store: every order delivered once, duplicates answered from the store', async () => {
  const a = await start('gw-a');
  const b = await start('gw-b');
  const orders = Array.from({ length: 60 }, (_, n) => order(n));
  const [acksA, acksB] = await Promise.all([
    send(a, orders.filter((_, n) => n % 2 === 0)),
    send(b, orders.filter((_, n) => n % 2 === 1)),
  ]);
  assert.ok([...acksA, ...acksB].every((c) => c === 'AA'));
  // The same messages again, each to the other instance: known to the shared store, not queued again.
  const resent = await send(a, orders.filter((_, n) => n % 2 === 1).slice(0, 10));
  assert.ok(resent.every((c) => c === 'AA'));
  assert.ok(await until(async () => (await fhir.placerNumbers()).length >= 60, 30000), 'all 60 delivered');
  await new Promise((r) => setTimeout(r, 500));
  const got = await fhir.placerNumbers();
  assert.equal(got.length, 60, 'each order once');
  assert.equal(new Set(got).size, 60);
  // What a REST client wrote to A, B serves (and its version).
  const patient = JSON.parse(readFileSync(path.join(profilesDir, 'examples', 'valid', 'Patient-infusion-patient.json'), 'utf8'));
  delete patient.id;
  const created = await fetch(`${a.fhirBase}/Patient`, {
    method: 'POST', headers: { 'Content-Type': 'application/fhir+json' }, body: JSON.stringify(patient) });
  assert.equal(created.status, 201);
  const location = created.headers.get('location');
  const id = location.match(/Patient\/([^/]+)/)[1];
  const viaB = await fetch(`${b.fhirBase}/Patient/${id}`);
  assert.equal(viaB.status, 200);
  assert.equal((await viaB.json()).meta.versionId, '1');
  const found = await (await fetch(`${b.fhirBase}/Patient?_id=${id}`)).json();
  assert.equal(found.total, 1);
  const metricsB = await (await fetch(`http://127.0.0.1:${b.httpPort}/metrics`)).text();
  assert.match(metricsB, /^ketamine_outbox_items\{destination="registry",state="delivered"\} 60$/m);
  assert.match(metricsB, /^ketamine_outbox_items\{destination="registry",state="pending"\} 0$/m);
  // A clinic's CSV export uploaded to A, sent again to B: B finds every row's resources (the batch
  // lookup of identifiers on PostgreSQL) and changes nothing; B's type history lists A's writes.
  const csv = readFileSync(path.join(ownDir, '..', 'csv', 'pain-vitals-1.csv'));
  const upload = async (gw) => {
    const r = await fetch(`http://127.0.0.1:${gw.httpPort}/csv/pain-vitals`, { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: csv });
    return { status: r.status, text: (await r.json()).issue.at(-1).details.text };
  };
  const first = await upload(a);
  assert.equal(first.status, 200, first.text);
  assert.match(first.text, /^stored 5 rows of layout pain-vitals: \d+ resources created/);
  const again = await upload(b);
  assert.equal(again.status, 200, again.text);
  assert.match(again.text, /: 0 resources created, 0 updated, \d+ unchanged$/);
  const history = await (await fetch(`${b.fhirBase}/Observation/_history?_count=100`)).json();
  assert.ok(history.total >= 16 && history.entry.every((e) => e.resource.resourceType === 'Observation'), JSON.stringify(history.total));
});

test('one instance killed with SIGKILL under load: the other delivers everything it acknowledged, once', async () => {
  const [a, b] = gateways;
  const load = sendUntilStopped([a.port, a.port, b.port], order, { first: 1000 });
  const { acked } = load;
  assert.ok(await until(async () => acked.size >= 150, 30000), 'traffic flowing');
  await a.stop('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  await load.stop();
  const want = new Set([...acked].map((n) => `ORD-PG-${n}`));
  const delivered = async () => (await fhir.placerNumbers()).filter((o) => want.has(o));
  assert.ok(await until(async () => new Set(await delivered()).size === want.size, 60000),
    'b delivered what a acknowledged (after a\'s lease ran out)');
  await new Promise((r) => setTimeout(r, 500));
  const got = await delivered();
  assert.equal(got.length, want.size, 'nothing twice');
  console.log(`postgres failover test: ${want.size} acknowledged, ${got.length} orders at the server`);
});
