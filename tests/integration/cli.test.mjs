// The command-line tools as a user runs them: mllp-send against a real gateway, exit codes,
// one-line errors for bad arguments and configuration.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { gatewayBin, startGateway, freshDataDir } from './gateway.mjs';

const ownDataDir = process.env.KGW_TEST_DATA_DIR;
let gw;
before(async () => {
  gw = await startGateway();
});
after(async () => {
  await gw.stop();
  gw.cleanup();
});

function run(args, input) {
  return spawnSync(gatewayBin, args, { input, encoding: 'utf8', timeout: 30000 });
}

test('mllp-send sends a batch file and prints one line per ACK', () => {
  const r = run(['mllp-send', '--quiet', `127.0.0.1:${gw.port}`, path.join(ownDataDir, 'batch-ketamine-1.hl7b')]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /#1 KET-ADT-0001 AA$/);
  assert.match(lines[1], /#2 KET-ADT-0002 AA$/);
});

test('mllp-send reads standard input with LF line ends and prints the whole ACK', () => {
  const r = run(['mllp-send', `127.0.0.1:${gw.port}`, '-'],
    'MSH|^~\\&|A|B|C|D|20261123||ORU^R01|CLI-STDIN-1|P|2.5.1\nPID|1||MRN-9^^^HOSP^MR||Doe^Jane\n' +
    'OBX|1|NM|72514-3^^LN||3|{score}|||||F|||20261123090000-0500\n');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^MSA\|AA\|CLI-STDIN-1$/m);
});

test('mllp-send exits 1 when a message is rejected', () => {
  const r = run(['mllp-send', '--quiet', `127.0.0.1:${gw.port}`, '-'],
    'MSH|^~\\&|A|B|C|D|20261123||DFT^P03|CLI-REJ-1|P|2.5.1\r');
  assert.equal(r.status, 1);
  assert.match(r.stdout, /CLI-REJ-1 AR/);
});

test('mllp-send exits 3 when nobody listens, 2 on bad arguments', () => {
  const file = path.join(ownDataDir, 'ORU_R01-ketamine-1.hl7');
  const down = run(['mllp-send', '--timeout-ms', '2000', '127.0.0.1:1', file]);
  assert.equal(down.status, 3);
  assert.equal(down.stderr.trim().split('\n').length, 1);
  for (const args of [['mllp-send'], ['mllp-send', 'nohost', file], ['mllp-send', '--bogus', 'h:1', file],
    ['mllp-send', '--timeout-ms', 'soon', 'h:1', file], ['frobnicate'], ['serve', '--mllp-port', '99999']]) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}`);
  }
});

test('serve refuses a config with an unknown key, naming it', () => {
  const dir = freshDataDir();
  const config = path.join(dir, 'site.json');
  writeFileSync(config, JSON.stringify({ mllp: { port: 0, tls: { certificate: 'c', private_key: 'k', cipher: 'x' } } }));
  const r = run(['serve', '--config', config, '--data-dir', dir]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /mllp\.tls\.cipher unknown key/);
});

test('--help works for every command', () => {
  for (const args of [['--help'], ['serve', '--help'], ['mllp-send', '--help'], ['validate', '--help'], ['convert', '--help'], ['outbox', '--help']]) {
    const r = run(args);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /usage: ketamine-gateway/);
  }
});

const profilesDir = process.env.KGW_PROFILES_DIR;

test('validate: valid examples exit 0, an invalid one exits 1 with one line per issue', () => {
  const valid = path.join(profilesDir, 'examples', 'valid', 'Bundle-ketamine-order.json');
  const ok = run(['validate', valid]);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  const invalid = path.join(profilesDir, 'examples', 'invalid', 'clinical-route.json');
  const bad = run(['validate', invalid]);
  assert.equal(bad.status, 1);
  assert.match(bad.stdout, /: error MedicationRequest\.dosageInstruction\[0\]\.route: .* \[clinical-route\]$/m);
});

test('validate: OperationOutcome output, stdin, malformed JSON and a bad profile', () => {
  const oo = run(['validate', '--format', 'json', '-'], '{"resourceType":"Patient","birthDate":"23/11/1979"}');
  assert.equal(oo.status, 1);
  const outcome = JSON.parse(oo.stdout);
  assert.equal(outcome.resourceType, 'OperationOutcome');
  assert.deepEqual(outcome.issue[0].expression, ['Patient.birthDate']);
  const broken = run(['validate', '-'], '{"resourceType": ');
  assert.equal(broken.status, 1);
  assert.match(broken.stdout, /error \(document\): invalid JSON/);
  const unknown = run(['validate', '--profile', 'http://example.org/nope', '-'], '{}');
  assert.equal(unknown.status, 2);
  const withProfile = run(['validate', '--profile', 'http://fhir.ketamine-gateway.org/StructureDefinition/ketamine-prescriber', '-'],
    '{"resourceType":"Practitioner","name":[{"family":"Lee"}]}');
  assert.equal(withProfile.status, 1);
  assert.match(withProfile.stdout, /slice 'DEA'/);
});
