// FHIR destinations that want more than a shared secret: SMART Backend Services (the gateway signs a
// JWT client assertion with its RS384 or ES384 key; the peer's token endpoint checks the signature
// with node's crypto and the claims as SMART asks) and mutual TLS (an HTTPS peer that wants a client
// certificate from its CA; a certificate from another CA is refused). Config errors name the key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { peer } from './peers.mjs';
import { freshDataDir, gatewayBin, startGateway, until } from './gateway.mjs';
import { startFhirServer } from './fhir_server.mjs';

const { Hl7Client } = peer('@medplum/hl7');
const { Hl7Message } = peer('@medplum/core');
const ownDir = process.env.KGW_TEST_DATA_DIR;
const here = path.dirname(new URL(import.meta.url).pathname);

let dataDir, certs, rsKey, esKey, smartRs, smartEs, mtls, gw;

function pem(key) {
  return key.export({ type: 'pkcs8', format: 'pem' });
}

before(async () => {
  dataDir = freshDataDir('kgw-auth-');
  certs = path.join(dataDir, 'certs');
  const made = spawnSync('bash', [path.join(here, 'make_test_certs.sh'), certs], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
  rsKey = path.join(dataDir, 'kgw-rs384.pem');
  esKey = path.join(dataDir, 'kgw-es384.pem');
  writeFileSync(rsKey, pem(rsa.privateKey));
  writeFileSync(esKey, pem(ec.privateKey));
  smartRs = await startFhirServer({ auth: true, smartKeys: { 'rs-1': rsa.publicKey } });
  smartEs = await startFhirServer({ auth: true, smartKeys: { 'es-1': ec.publicKey } });
  const file = (f) => readFileSync(path.join(certs, f));
  mtls = await startFhirServer({ tls: { key: file('server.key'), cert: file('server.pem'), ca: file('ca.pem') } });
  const retry = { initial_backoff_ms: 50, max_backoff_ms: 200 };
  writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({
    profiles_dir: process.env.KGW_PROFILES_DIR,
    routing: {
      destinations: {
        rs: { type: 'fhir', url: smartRs.base, ...retry,
          smart: { token_url: smartRs.tokenUrl, client_id: 'kgw', private_key: rsKey, algorithm: 'RS384', kid: 'rs-1', scope: 'system/*.write' } },
        es: { type: 'fhir', url: smartEs.base, ...retry,
          smart: { token_url: smartEs.tokenUrl, client_id: 'kgw', private_key: esKey, algorithm: 'ES384', kid: 'es-1' } },
        mtls: { type: 'fhir', url: mtls.base, ...retry,
          tls: { ca: path.join(certs, 'ca.pem'), certificate: path.join(certs, 'client.pem'), private_key: path.join(certs, 'client.key') } },
        stranger: { type: 'fhir', url: mtls.base, ...retry, max_attempts: 2,
          tls: { ca: path.join(certs, 'ca.pem'), certificate: path.join(certs, 'stranger.pem'), private_key: path.join(certs, 'stranger.key') } },
      },
      routes: [{ name: 'orders', match: { message_type: ['RDE^O11'] }, destinations: ['rs', 'es', 'mtls', 'stranger'] }],
    },
  }));
  gw = await startGateway({ dataDir, args: ['--config', path.join(dataDir, 'config.json')] });
  const rde = readFileSync(path.join(ownDir, 'RDE_O11-ketamine-1.hl7'), 'utf8').replace('|AL|NE|', '|||');
  const client = new Hl7Client({ host: '127.0.0.1', port: gw.port });
  try {
    const ack = await client.sendAndWait(Hl7Message.parse(rde));
    assert.equal(ack.getSegment('MSA').getField(1).toString(), 'AA');
  } finally {
    client.close();
  }
});

after(async () => {
  await gw?.stop();
  gw?.cleanup();
  for (const s of [smartRs, smartEs, mtls]) await s?.close();
});

test('SMART Backend Services: a signed JWT (RS384 and ES384) buys the token, the order is delivered', async () => {
  for (const [server, alg, kid] of [[smartRs, 'RS384', 'rs-1'], [smartEs, 'ES384', 'es-1']]) {
    assert.ok(await until(async () => (await server.search('MedicationRequest')).entry?.length === 1), `${alg}: delivered`);
    assert.deepEqual(server.state.refusedAssertions, [], alg);
    assert.equal(server.state.tokensIssued, 1, alg);
    const { header, claims } = server.state.assertions[0];
    assert.equal(header.alg, alg);
    assert.equal(header.kid, kid);
    assert.equal(claims.aud, server.tokenUrl);
    assert.match(claims.jti, /^[0-9a-f]{32}$/);
  }
});

test('mutual TLS: the client certificate from the peer\'s CA is accepted, one from another CA is not', async () => {
  assert.ok(await until(() => mtls.state.requests.some((r) => r.method === 'POST')), 'delivered over mutual TLS');
  assert.ok(mtls.state.clients.includes('client'));
  const base = `http://127.0.0.1:${gw.httpPort}`;
  assert.ok(await until(async () => {
    const dead = await (await fetch(`${base}/admin/dead-letters?destination=stranger`)).json();
    return dead.length === 1;
  }), 'the stranger\'s deliveries give up');
  assert.ok(!mtls.state.clients.includes('stranger'));
  assert.equal(mtls.state.requests.filter((r) => r.method === 'POST').length, 1);
  const stats = await (await fetch(`${base}/admin/outbox/mtls`)).json();
  assert.equal(stats.delivered, 1);
});

test('config errors name the key: a missing or unfit private key, a certificate without its key', () => {
  const cases = [
    [{ smart: { token_url: 'http://x/token', client_id: 'kgw', private_key: path.join(dataDir, 'nothing.pem') } },
      /routing\.destinations\.bad\.smart\.private_key.*cannot read the private key/],
    [{ smart: { token_url: 'http://x/token', client_id: 'kgw', private_key: esKey, algorithm: 'RS384' } },
      /routing\.destinations\.bad\.smart\.private_key.*is not an RSA key for RS384/],
    [{ smart: { token_url: 'http://x/token', client_id: 'kgw', private_key: rsKey, algorithm: 'HS256' } },
      /routing\.destinations\.bad\.smart\.algorithm/],
    [{ tls: { certificate: path.join(certs, 'client.pem') } }, /routing\.destinations\.bad\.tls: a client certificate needs its private_key/],
    [{ tls: { ca: path.join(certs, 'none.pem') } }, /routing\.destinations\.bad\.tls\.ca: cannot read/],
  ];
  for (const [extra, message] of cases) {
    const file = path.join(dataDir, 'bad.json');
    writeFileSync(file, JSON.stringify({ routing: { destinations: { bad: { type: 'fhir', url: 'https://x/fhir', ...extra } } } }));
    const r = spawnSync(gatewayBin, ['serve', '--config', file, '--data-dir', path.join(dataDir, 'bad'), '--mllp-port', '0', '--http-port', '0'],
      { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
  }
});
