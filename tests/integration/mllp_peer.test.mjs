// A real MLLP peer from npm (@medplum/hl7's Hl7Client) talks to `ketamine-gateway serve`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { peer } from './peers.mjs';
import { startGateway } from './gateway.mjs';

const { Hl7Message } = peer('@medplum/core');
const { Hl7Client } = peer('@medplum/hl7');

const samplesDir = process.env.KGW_SAMPLES_DIR;
const ownDataDir = process.env.KGW_TEST_DATA_DIR;

let gw;
before(async () => {
  gw = await startGateway();
});
after(async () => {
  const code = await gw.stop();
  assert.equal(code, 0, 'graceful stop exits 0');
  gw.cleanup();
});

function client() {
  return new Hl7Client({ host: '127.0.0.1', port: gw.port });
}

function storedRows(where = '1=1') {
  const out = execFileSync('sqlite3', [path.join(gw.dataDir, 'gateway.db'),
    `SELECT message_type, status, control_id FROM inbound_messages WHERE ${where} ORDER BY id`]);
  return out.toString().trim().split('\n').filter(Boolean);
}

function hl7Files(dir) {
  return readdirSync(dir).filter((f) => f.endsWith('.hl7')).map((f) => path.join(dir, f));
}

test('every shared and own sample message gets AA (or CA in enhanced mode)', async () => {
  const files = [...hl7Files(samplesDir), ...hl7Files(ownDataDir)];
  assert.ok(files.length >= 15, `found ${files.length} sample files`);
  const c = client();
  try {
    for (const file of files) {
      const text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '').replace(/\r?\n/g, '\r');
      const msg = Hl7Message.parse(text);
      // 'first': messages with MSH-16 NE get only the commit ACK.
      const ack = await c.sendAndWait(msg, { returnAck: 'first' });
      const code = ack.getSegment('MSA').getField(1).toString();
      assert.ok(code === 'AA' || code === 'CA', `${path.basename(file)} got ${code}`);
      assert.equal(ack.getSegment('MSA').getField(2).toString(), msg.getSegment('MSH').getField(10).toString());
    }
  } finally {
    await c.close();
  }
});

test('an unsupported message type gets AR with ERR-3 200 and nothing is processed', async () => {
  const c = client();
  try {
    const msg = Hl7Message.parse('MSH|^~\\&|BILLING|CLINIC|GW|HOSP|20261123||DFT^P03|IT-DFT-1|P|2.5.1\rPID|1||X\r');
    const ack = await c.sendAndWait(msg);
    assert.equal(ack.getSegment('MSA').getField(1).toString(), 'AR');
    assert.equal(ack.getSegment('ERR').getField(3).getComponent(1), '200');
    assert.equal(ack.getSegment('ERR').getField(4).toString(), 'E');
    assert.deepEqual(storedRows("control_id = 'IT-DFT-1'"), ['DFT^P03|rejected|IT-DFT-1']);
  } finally {
    await c.close();
  }
});

test('a malformed message gets AR naming the segment', async () => {
  const c = client();
  try {
    const msg = Hl7Message.parse('MSH|^~\\&|A|B|C|D|20261123||RDE^O11|IT-BAD-1|P|2.5.1\rpid|1\r');
    const ack = await c.sendAndWait(msg);
    assert.equal(ack.getSegment('MSA').getField(1).toString(), 'AR');
    assert.equal(ack.getSegment('MSA').getField(2).toString(), 'IT-BAD-1');
    assert.match(ack.getSegment('ERR').getField(8).toString(), /segment 2/);
  } finally {
    await c.close();
  }
});

test('a message sent twice is acknowledged twice and stored once', async () => {
  const text = 'MSH|^~\\&|PUMP|ICU|GW|HOSP|20261123||RAS^O17^RAS_O17|IT-DUP-1|P|2.5.1\r' +
    'PID|1||MRN-9^^^HOSP^MR||Doe^Jane\rORC|RE|ORD-9^EHR\r' +
    'RXA|0|1|20261123090000-0500|20261123100000-0500|238082^ketamine^RXNORM|40|mg|||RN1^Lee^Sam||||||||CP\rRXR|IV\r';
  const first = client();
  const second = client();
  try {
    const a = await first.sendAndWait(Hl7Message.parse(text));
    const b = await second.sendAndWait(Hl7Message.parse(text));
    assert.equal(a.getSegment('MSA').getField(1).toString(), 'AA');
    assert.equal(b.toString(), a.toString(), 'the duplicate gets the stored ACK');
    assert.deepEqual(storedRows("control_id = 'IT-DUP-1'"), ['RAS^O17|accepted|IT-DUP-1']);
  } finally {
    await first.close();
    await second.close();
  }
});

test('enhanced mode: commit ACK, then the application ACK', async () => {
  const c = client();
  try {
    const msg = Hl7Message.parse('MSH|^~\\&|A|B|C|D|20261123||ORU^R01|IT-ENH-1|P|2.5.1|||AL|AL\r' +
      'PID|1||MRN-9^^^HOSP^MR||Doe^Jane\rOBX|1|NM|72514-3^^LN||5|{score}|||||F|||20261123090000-0500\r');
    const ack = await c.sendAndWait(msg, { returnAck: 'application' });
    assert.equal(ack.getSegment('MSA').getField(1).toString(), 'AA');
  } finally {
    await c.close();
  }
});

test('a message that converts with errors gets AE with ERR segments naming segment, field and rule', async () => {
  const c = client();
  try {
    const head = 'MSH|^~\\&|EHR|CLINIC|GW|CLINIC|20261123083000-0500||RDE^O11^RDE_O11|IT-AE-1|P|2.5.1\r' +
      'PID|1||MRN-1^^^CLINIC^MR||Doe^Jane||19800101|F\rORC|NW|ORD-1^EHR|||||||20261123083000-0500\r';
    const missing = await c.sendAndWait(Hl7Message.parse(head + 'RXE|||1||mg\rRXR|IV\r'));
    assert.equal(missing.getSegment('MSA').getField(1).toString(), 'AE');
    const errs = missing.getAllSegments('ERR');
    const required = errs.find((e) => e.getField(3).getComponent(1) === '101');
    assert.ok(required, missing.toString());
    assert.equal(required.getField(2).toString(), 'RXE^1^2');
    const over = await c.sendAndWait(Hl7Message.parse(head.replace('IT-AE-1', 'IT-AE-2') +
      'RXE||238082^ketamine 10 MG/ML^RXNORM|1.5||mg/kg/h^^UCUM||||||||AB1234563^Morgan^Dana^^^^^^^^^^DEA\r' +
      'TQ1|1||||||20261123090000-0500|20261123100000-0500|||||1^h&hour&UCUM\rRXR|IV\r' +
      'OBX|1|NM|29463-7^Body weight^LN||80|kg|||||F|||20261123081500-0500\r'));
    assert.equal(over.getSegment('MSA').getField(1).toString(), 'AE');
    assert.ok(over.getAllSegments('ERR').some((e) => /clinical-rate/.test(e.getField(8).toString()) && e.getField(4).toString() === 'E'),
      over.toString());
    assert.deepEqual(storedRows("control_id LIKE 'IT-AE-%'"), ['RDE^O11|error|IT-AE-1', 'RDE^O11|error|IT-AE-2']);
  } finally {
    await c.close();
  }
});
