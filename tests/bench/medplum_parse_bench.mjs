// The same messages parsed by @medplum/core's Hl7Message.parse (4.5.2, the version the
// product's tests pin), reading every field, component and sub-component so that both sides
// do a full parse. Prints one JSON line per message: messages/s and MB/s.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../peers/package.json', import.meta.url));
const { Hl7Message } = require('@medplum/core');
const version = JSON.parse(readFileSync(new URL('../peers/node_modules/@medplum/core/package.json', import.meta.url), 'utf8')).version;
const dataDir = new URL('./data/', import.meta.url).pathname;
const seconds = Number(process.env.BENCH_SECONDS ?? 3);

function touchAll(msg) {
  let total = 0;
  for (const seg of msg.segments) {
    for (let f = 1; f < seg.fields.length; f++) {
      const field = seg.getField(f);
      for (const rep of field.components) {
        for (const comp of rep) total += comp.length;
      }
    }
  }
  return total;
}

for (const file of ['RDE_O11-bench.hl7', 'ORU_R01-bench.hl7']) {
  const text = readFileSync(path.join(dataDir, file), 'utf8');
  const bytes = Buffer.byteLength(text);
  for (let i = 0; i < 2000; i++) touchAll(Hl7Message.parse(text)); // warm up the JIT
  let n = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1000; i++) sink += touchAll(Hl7Message.parse(text));
    n += 1000;
    now = process.hrtime.bigint();
  }
  const elapsed = Number(now - start) / 1e9;
  console.log(JSON.stringify({
    parser: `@medplum/core ${version} Hl7Message.parse + read all`,
    message: file,
    bytes,
    messages_per_second: Math.round(n / elapsed),
    mb_per_second: Number(((n * bytes) / elapsed / 1e6).toFixed(1)),
    sink: sink > 0,
  }));
}
