// A clinic's CSV export sent to a real `ketamine-gateway serve` (POST /csv/{layout}): every row
// converted, validated and stored in one transaction with the file, searchable at /fhir and routed to a
// real FHIR server (Medplum's FhirRouter); the same file again changes nothing; a file with bad rows
// stores nothing and names every row, line and column; other character sets when named. The same
// through a folder inbox: files dropped into a folder end in done/ or failed/ with their outcome.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { medplumErrors } from './peers.mjs';
import { freshDataDir, startGateway, until } from './gateway.mjs';
import { startFhirServer } from './fhir_server.mjs';

const profilesDir = process.env.KGW_PROFILES_DIR;
const csvFile = path.join(process.env.KGW_TEST_DATA_DIR, '..', 'csv', 'pain-vitals-1.csv');
const HEADER = 'mrn,family_name,given_name,recorded_at,phase,pain_score,heart_rate,spo2,systolic,diastolic,resp_rate\n';

let gw;
let fhir;
let inbox;
let excelInbox;
before(async () => {
  fhir = await startFhirServer();
  const dataDir = freshDataDir('kgw-csv-');
  inbox = path.join(dataDir, 'chairs');
  excelInbox = path.join(dataDir, 'excel');
  writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({
    seed_examples: true, profiles_dir: profilesDir,
    inboxes: [
      { name: 'chairs', folder: inbox, layout: 'pain-vitals', poll_ms: 100 },
      { name: 'excel', folder: excelInbox, layout: 'pain-vitals', charset: 'WINDOWS-1252', poll_ms: 100 },
    ],
    routing: {
      destinations: {
        registry: { type: 'fhir', url: fhir.base, timeout_ms: 2000, initial_backoff_ms: 50, max_backoff_ms: 400 },
      },
      routes: [{ name: 'observations-to-the-registry', match: { resource_type: ['Observation'] }, destinations: ['registry'] }],
    },
  }));
  gw = await startGateway({ dataDir, args: ['--config', path.join(dataDir, 'config.json')] });
});
after(async () => {
  await gw.stop();
  gw.cleanup();
  await fhir.close();
});

async function upload(body, { layout = 'pain-vitals', type = 'text/csv', method = 'POST', headers = {} } = {}) {
  const r = await fetch(`http://127.0.0.1:${gw.httpPort}/csv/${layout}`, {
    method, headers: { 'Content-Type': type, ...headers }, body: method === 'GET' ? undefined : body,
  });
  const text = await r.text();
  return { status: r.status, text, json: text ? JSON.parse(text) : undefined };
}
const fhirGet = async (url) => (await fetch(`${gw.fhirBase}${url}`)).json();
const call = async (url) => fetch(`${gw.fhirBase}${url}`);
const texts = (outcome) => outcome.issue.map((i) => i.details.text);

test('a clinic export is stored whole, searchable, valid for Medplum and routed to the registry', async () => {
  const csv = readFileSync(csvFile);
  const r = await upload(csv);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(medplumErrors(r.json), []);
  const summary = texts(r.json).at(-1);
  assert.match(summary, /^stored 5 rows of layout pain-vitals: (\d+) resources created, 0 updated, (\d+) unchanged$/);
  // MRN-40021 is on three rows and MRN-40033 on two: one Patient each, found by the MRN.
  const patients = await fhirGet('/Patient?identifier=urn:ketamine-gateway:assigner:RIVERSIDE_PAIN%7CMRN-40021');
  assert.equal(patients.total, 1);
  const patientId = patients.entry[0].resource.id;
  const pain = await fhirGet(`/Observation?patient=${patientId}&code=http://loinc.org%7C72514-3`);
  const byTime = pain.entry.map((e) => e.resource).sort((a, b) => a.effectiveDateTime.localeCompare(b.effectiveDateTime));
  assert.deepEqual(byTime.map((o) => [o.effectiveDateTime, o.valueInteger]),
    [['2026-11-23T08:55:00+00:00', 8], ['2026-11-23T13:15:00+00:00', 4]]);
  for (const e of pain.entry) assert.deepEqual(medplumErrors(e.resource), [], JSON.stringify(e.resource));
  // Every Observation of the file went to the registry, each once, and passes Medplum there too.
  const stored = await fhirGet('/Observation?_count=500');
  const fromFile = stored.entry.filter((e) => e.resource.identifier?.[0]?.system === 'urn:ketamine-gateway:csv:pain-vitals');
  assert.equal(fromFile.length, Number(summary.match(/(\d+) resources created/)[1]) - 2);  // less the two Patients
  const registry = async () => (await fhir.search('Observation', '_count=500')).entry ?? [];
  assert.ok(await until(async () => (await registry()).length === fromFile.length), 'the Observations reached the FHIR server');
  for (const e of await registry()) assert.deepEqual(medplumErrors(e.resource), []);
});

test('the same file again changes nothing', async () => {
  const csv = readFileSync(csvFile);
  const before = (await fhirGet('/Observation?_summary=count')).total;
  const r = await upload(csv);
  assert.equal(r.status, 200, r.text);
  assert.match(texts(r.json).at(-1), /: 0 resources created, 0 updated, \d+ unchanged$/);
  assert.equal((await fhirGet('/Observation?_summary=count')).total, before);
});

test('bad rows: nothing stored, every problem named by row, line and column or FHIRPath', async () => {
  const before = (await fhirGet('/Observation?_summary=count')).total;
  const csv = HEADER +
    'MRN-50001,Row,One,2026-11-24 09:00,before,6,80,98,130,80,14\n' +   // good, but stored only with the rest
    'MRN-50001,Row,Two,2026-11-24 10:00,during,14,80,98,130,80,14\n' +  // pain 14: the profile's 0-10
    'MRN-50001,Row,Three,yesterday,after,x,80,98,130,80,14\n' +         // converter errors, not validated further
    ',Row,Four,2026-11-24 11:00,after,3,,,,,\n';                        // no MRN
  const r = await upload(csv);
  assert.equal(r.status, 422, r.text);
  assert.deepEqual(medplumErrors(r.json), []);
  const issues = r.json.issue;
  const row2 = issues.find((i) => i.details.text.startsWith('row 2 (line 3): '));
  assert.ok(row2, JSON.stringify(issues));
  assert.match(row2.expression[0], /^Bundle\.entry\[\d+\]\.resource\.valueInteger$/);
  const row3 = issues.filter((i) => i.details.text.startsWith('row 3 (line 4) column '));
  assert.deepEqual(row3.map((i) => i.details.text.split(':')[0]).sort(),
    ['row 3 (line 4) column pain_score', 'row 3 (line 4) column recorded_at']);  // the time once, not per resource
  assert.ok(!issues.some((i) => i.details.text.startsWith('row 3 (line 4): ')), 'no follow-on validation issues');
  assert.ok(issues.some((i) => i.details.text.startsWith('row 4 (line 5) column mrn: ')));
  assert.equal(texts(r.json).at(-1), '3 of 4 rows have errors: nothing was stored');
  assert.equal((await fhirGet('/Observation?_summary=count')).total, before);
  assert.equal((await fhirGet('/Patient?identifier=MRN-50001')).total, 0);
});

test('a patient the store has twice by that MRN: the file is refused (412), nothing stored', async () => {
  const patient = { resourceType: 'Patient', identifier: [{ system: 'urn:ketamine-gateway:assigner:RIVERSIDE_PAIN', value: 'MRN-60001' }] };
  for (let i = 0; i < 2; i++) {
    const r = await fetch(`${gw.fhirBase}/Patient`, { method: 'POST', headers: { 'Content-Type': 'application/fhir+json' }, body: JSON.stringify(patient) });
    assert.equal(r.status, 201);
  }
  const before = (await fhirGet('/Observation?_summary=count')).total;
  const r = await upload(HEADER + 'MRN-50009,A,B,2026-11-24 09:00,before,5,,,,,\nMRN-60001,C,D,2026-11-24 09:00,before,5,,,,,\n');
  assert.equal(r.status, 412, r.text);
  assert.match(texts(r.json)[0], /^row 2 \(line 3\): more than one Patient has urn:ketamine-gateway:assigner:RIVERSIDE_PAIN\|MRN-60001/);
  assert.equal((await fhirGet('/Observation?_summary=count')).total, before);
  assert.equal((await fhirGet('/Patient?identifier=MRN-50009')).total, 0);
});

test('a file in another character set is converted when its charset is named, refused otherwise', async () => {
  const latin1 = Buffer.concat([Buffer.from(HEADER), Buffer.from('MRN-50002,M\xfcller,Ren\xe9e,2026-11-24 09:00,before,5,,,,,\n', 'latin1')]);
  const refused = await upload(latin1);
  assert.equal(refused.status, 400);
  assert.match(texts(refused.json)[0], /^line 2 of the CSV input is not UTF-8 \(byte \d+\)/);
  const stored = await upload(latin1, { type: 'text/csv; charset=windows-1252' });
  assert.equal(stored.status, 200, stored.text);
  const patient = (await fhirGet('/Patient?identifier=MRN-50002')).entry[0].resource;
  assert.deepEqual(patient.name[0], { family: 'Müller', given: ['Renée'] });
  const unknown = await upload(latin1, { type: 'text/csv; charset=klingon-8' });
  assert.equal(unknown.status, 415);
});

test('what is not a CSV export of a known layout is refused with the right status', async () => {
  const csv = readFileSync(csvFile);
  const layout = await upload(csv, { layout: 'no-such-layout' });
  assert.equal(layout.status, 404);
  assert.match(texts(layout.json)[0], /there are: pain-vitals/);
  assert.equal((await upload(csv, { type: 'application/fhir+json' })).status, 415);
  assert.equal((await upload(csv, { headers: { 'Content-Encoding': 'gzip' } })).status, 415);
  assert.equal((await upload('', { method: 'GET' })).status, 405);
  const header = await upload('mrn,family_name\nMRN-1,X\n');
  assert.equal(header.status, 400);
  assert.match(texts(header.json)[0], /lacks column\(s\) .*pain_score/);
  assert.equal((await upload('')).status, 400);
  const quote = await upload(HEADER + 'MRN-50003,"unterminated,X,2026-11-24 09:00,before,5,,,,,\n');
  assert.equal(quote.status, 422);
  assert.match(texts(quote.json)[0], /^row 1 \(line 2\): a quoted field is not closed/);
  const empty = await upload(HEADER);
  assert.equal(empty.status, 200);
  assert.equal(texts(empty.json).at(-1), 'the file has no data rows: nothing was stored');
});

test('Prefer: return=minimal gives an empty 200', async () => {
  const r = await upload(readFileSync(csvFile), { headers: { Prefer: 'return=minimal' } });
  assert.equal(r.status, 200);
  assert.equal(r.text, '');
});

test('imports run on a thread of their own: the listener answers meanwhile, and a full queue is a 503', async () => {
  // 2,000 rows of 100 patients: long enough that the uploads below overlap.
  let csv = HEADER;
  for (let i = 0; i < 2000; i++) {
    csv += `MRN-8${String(i % 100).padStart(4, '0')},Queue,Q${i % 100},2026-10-${String(1 + (i % 28)).padStart(2, '0')} ` +
      `${String(8 + (i % 10)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')},before,${i % 11},${60 + (i % 40)},,,,\n`;
  }
  const uploads = [];
  for (let i = 0; i < 7; i++) uploads.push(upload(csv).then((r) => ({ ...r, at: process.hrtime.bigint() })));
  const health = await fetch(`http://127.0.0.1:${gw.httpPort}/healthz`);
  const healthAt = process.hrtime.bigint();
  assert.equal(health.status, 200);
  const read = await call('/Patient/pat-40021');
  assert.equal(read.status, 200);
  const done = await Promise.all(uploads);
  const stored = done.filter((r) => r.status === 200);
  const busy = done.filter((r) => r.status === 503);
  assert.equal(stored.length + busy.length, 7, JSON.stringify(done.map((r) => r.status)));
  assert.ok(stored.length >= 1 && stored.length <= 5, 'one runs, four wait');
  assert.ok(busy.length >= 2, 'the others are told to send again');
  assert.match(texts(busy[0].json)[0], /wait to be imported already/);
  assert.ok(stored.every((r) => r.at > healthAt), 'the health check was answered while the imports ran');
  assert.equal((await fhirGet('/Patient?identifier=MRN-80000')).total, 1, 'imported once whatever the repeats');
});

test('/metrics counts the files stored and refused and the rows stored, by layout', async () => {
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  const value = (name) => Number(metrics.match(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm'))?.[1]);
  assert.ok(value('ketamine_csv_files_total{layout="pain-vitals",outcome="stored"}') >= 4, metrics);
  assert.ok(value('ketamine_csv_files_total{layout="pain-vitals",outcome="refused"}') >= 4, metrics);
  assert.ok(value('ketamine_csv_rows_total{layout="pain-vitals"}') >= 15, metrics);
  assert.ok(!metrics.includes('no-such-layout'), 'an unknown layout makes no label');
});

// Drops `bytes` into `folder` as NAME the way exporters should (a hidden file renamed when whole).
function drop(folder, name, bytes) {
  writeFileSync(path.join(folder, `.${name}.part`), bytes);
  renameSync(path.join(folder, `.${name}.part`), path.join(folder, name));
}

test('a folder inbox takes an export dropped into it: stored, moved to done/ with its outcome', async () => {
  const csv = HEADER + 'MRN-70001,Inbox,Alex,2026-11-25 09:00,before,7,81,97,130,80,14\n' +
    'MRN-70001,Inbox,Alex,2026-11-25 11:00,after,3,,,,,\n';
  drop(inbox, '2026-11-25-chair1.csv', csv);
  const done = path.join(inbox, 'done', '2026-11-25-chair1.csv');
  assert.ok(await until(() => existsSync(done), 10000), 'moved to done/');
  assert.ok(!existsSync(path.join(inbox, '2026-11-25-chair1.csv')));
  const outcome = JSON.parse(readFileSync(`${done}.outcome.json`, 'utf8'));
  assert.match(outcome.issue.at(-1).details.text, /^stored 2 rows of layout pain-vitals: 7 resources created/);
  const patient = (await fhirGet('/Patient?identifier=MRN-70001')).entry[0].resource;
  const pain = await fhirGet(`/Observation?patient=${patient.id}&code=http://loinc.org%7C72514-3`);
  assert.deepEqual(pain.entry.map((e) => e.resource.valueInteger).sort(), [3, 7]);
  for (const e of pain.entry) assert.deepEqual(medplumErrors(e.resource), []);
});

test('a folder inbox moves a refused export to failed/ with the reasons, and converts its charset', async () => {
  drop(inbox, 'bad.csv', HEADER + 'MRN-70002,X,Y,2026-11-25 09:00,before,15,,,,,\n');
  const failed = path.join(inbox, 'failed', 'bad.csv');
  assert.ok(await until(() => existsSync(failed), 10000), 'moved to failed/');
  const outcome = JSON.parse(readFileSync(`${failed}.outcome.json`, 'utf8'));
  assert.ok(outcome.issue.some((i) => i.severity === 'error' && i.details.text.startsWith('row 1 (line 2): ')), JSON.stringify(outcome));
  assert.equal((await fhirGet('/Patient?identifier=MRN-70002')).total, 0);
  // The Excel inbox names Windows-1252: its names arrive right.
  drop(excelInbox, 'excel.csv', Buffer.concat([Buffer.from(HEADER), Buffer.from('MRN-70003,Pe\xf1a,Jos\xe9,2026-11-25 09:00,before,4,,,,,\n', 'latin1')]));
  assert.ok(await until(() => existsSync(path.join(excelInbox, 'done', 'excel.csv')), 10000));
  assert.deepEqual((await fhirGet('/Patient?identifier=MRN-70003')).entry[0].resource.name[0], { family: 'Peña', given: ['José'] });
  assert.deepEqual(readdirSync(inbox).filter((n) => n.endsWith('.csv')), [], 'nothing left in the inbox');
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  assert.match(metrics, /^ketamine_inbox_files_total\{inbox="chairs",outcome="stored"\} 1$/m);
  assert.match(metrics, /^ketamine_inbox_files_total\{inbox="chairs",outcome="refused"\} 1$/m);
  assert.match(metrics, /^ketamine_inbox_files_total\{inbox="excel",outcome="stored"\} 1$/m);
});
