// An independent judge: Medplum's validateResource (@medplum/core 4.5.2 with the official R4
// definitions) and our validator on the same resources.
//  1. Every valid example passes both.
//  2. A generated corpus of mutated resources (deterministic) gets the same verdict from both on
//     base-R4 structure, cardinality, types and primitive formats. Where Medplum does not check a
//     rule (required bindings, Resource.id syntax, a dateTime with a time but no zone, reference
//     target types, empty objects), ours must be stricter: it rejects and Medplum accepts. Every
//     disagreement is in KNOWN_DIFFERENCES below and in fhir-profiles/README.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { medplumErrors } from './peers.mjs';
import { gatewayBin } from './gateway.mjs';


const profilesDir = process.env.KGW_PROFILES_DIR;
const validDir = path.join(profilesDir, 'examples', 'valid');

// Rules of ours that are base-R4 structure, cardinality, type and format rules.
const STRUCTURAL = /^(unknown-element|cardinality-|structure-|type-mismatch|format-|json-invalid|invariant-ext-1)/;

// Mutation kinds where Medplum 4.5.2 checks nothing and ours must reject.
const OURS_STRICTER = new Set(['bad-required-code', 'bad-resource-id', 'datetime-without-zone', 'wrong-reference-target', 'empty-object']);


function ourVerdicts(files) {
  const r = spawnSync(gatewayBin, ['validate', '--format', 'json', '--profiles-dir', profilesDir, ...files],
    { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.ok(r.status === 0 || r.status === 1, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, files.length);
  return lines.map((l) => JSON.parse(l).issue.filter((i) => i.severity === 'error'));
}

function ruleOf(issue) {
  return issue.details?.coding?.[0]?.code ?? '';
}

// Deterministic pseudo-random numbers, so the corpus is the same on every run.
function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function baseResources() {
  const out = [];
  for (const f of readdirSync(validDir).sort()) {
    const r = JSON.parse(readFileSync(path.join(validDir, f), 'utf8'));
    if (r.resourceType === 'Bundle') {
      for (const e of r.entry) out.push(e.resource);
    } else {
      out.push(r);
    }
  }
  return out;
}

// Every [parent, key] whose value satisfies pred, walking objects and arrays.
function slots(node, pred, acc = [], depth = 0) {
  if (depth > 8 || node === null || typeof node !== 'object') return acc;
  for (const [k, v] of Object.entries(node)) {
    if (Array.isArray(node) === false && k === 'resourceType') continue;
    if (pred(v, k, node)) acc.push([node, k]);
    slots(v, pred, acc, depth + 1);
  }
  return acc;
}

const REQUIRED = {
  MedicationRequest: ['status', 'intent', 'subject', 'medicationCodeableConcept'],
  MedicationAdministration: ['status', 'subject', 'effectivePeriod', 'medicationReference'],
  Observation: ['status', 'code'],
};
const DATE_KEYS = new Set(['authoredOn', 'effectiveDateTime', 'birthDate', 'expirationDate', 'start', 'end']);
const SINGLE_KEYS = new Set(['status', 'subject', 'code', 'valueQuantity', 'intent', 'batch', 'gender']);

const MUTATORS = {
  'remove-required': (r, pick) => {
    const keys = (REQUIRED[r.resourceType] ?? []).filter((k) => k in r);
    if (!keys.length) return false;
    delete r[pick(keys)];
    return true;
  },
  'unknown-element': (r, pick) => {
    const targets = slots(r, (v) => v && typeof v === 'object' && !Array.isArray(v));
    const [parent, key] = targets.length ? pick(targets) : [null, null];
    const obj = parent ? parent[key] : r;
    obj[pick(['infusionPump', 'colour', 'xValue', 'dosage_mg', 'Status'])] = pick(['x', 1, true]);
    return true;
  },
  'number-as-string': (r, pick) => {
    const s = slots(r, (v) => typeof v === 'number');
    if (!s.length) return false;
    const [p, k] = pick(s);
    p[k] = String(p[k]);
    return true;
  },
  'string-as-number': (r, pick) => {
    const s = slots(r, (v, k) => typeof v === 'string' && k !== 'resourceType');
    if (!s.length) return false;
    const [p, k] = pick(s);
    p[k] = 42;
    return true;
  },
  'boolean-as-string': (r, pick) => {
    const s = slots(r, (v) => typeof v === 'boolean');
    if (!s.length) return false;
    const [p, k] = pick(s);
    p[k] = String(p[k]);
    return true;
  },
  'array-as-single': (r, pick) => {
    const s = slots(r, (v, k, parent) => Array.isArray(v) && v.length > 0 && !Array.isArray(parent) && typeof v[0] === 'object');
    if (!s.length) return false;
    const [p, k] = pick(s);
    p[k] = p[k][0];
    return true;
  },
  'single-as-array': (r, pick) => {
    const s = slots(r, (v, k, parent) => SINGLE_KEYS.has(k) && !Array.isArray(parent) && !Array.isArray(v));
    if (!s.length) return false;
    const [p, k] = pick(s);
    p[k] = [p[k]];
    return true;
  },
  'malformed-date': (r, pick) => {
    const s = slots(r, (v, k) => DATE_KEYS.has(k) && typeof v === 'string');
    if (!s.length) return false;
    const [p, k] = pick(s);
    p[k] = pick(['2026-13-01', '23/11/2026', '2026-11-23T25:00:00Z', 'yesterday', '2026-11-23T09:00:00+25:00']);
    return true;
  },
  'object-as-string': (r, pick) => {
    const s = slots(r, (v, k, parent) => v && typeof v === 'object' && !Array.isArray(v) && !Array.isArray(parent));
    if (!s.length) return false;
    const [p, k] = pick(s);
    p[k] = 'text';
    return true;
  },
  'bad-required-code': (r) => {
    if (!('status' in r)) return false;
    r.status = 'bogus';
    return true;
  },
  'bad-resource-id': (r, pick) => {
    r.id = pick(['has space', 'under_score', 'x'.repeat(65), 'slash/id']);
    return true;
  },
  'datetime-without-zone': (r, pick) => {
    const s = slots(r, (v, k) => ['authoredOn', 'effectiveDateTime', 'start', 'end'].includes(k) && typeof v === 'string' && v.includes('T'));
    if (!s.length) return false;
    const [p, k] = pick(s);
    p[k] = p[k].slice(0, 19);
    return true;
  },
  'wrong-reference-target': (r) => {
    if (!r.subject?.reference) return false;
    r.subject.reference = 'Medication/ketamine-10mg-ml-lot-kx2291';
    return true;
  },
  'empty-object': (r, pick) => {
    const s = slots(r, (v, k, parent) => v && typeof v === 'object' && !Array.isArray(v) && !Array.isArray(parent));
    if (!s.length) return false;
    const [p, k] = pick(s);
    p[k] = {};
    return true;
  },
};

// Known disagreements on the structural kinds, each explained in fhir-profiles/README.md.
const KNOWN_DIFFERENCES = {};

function buildCorpus() {
  const random = rng(20261123);
  const pick = (items) => items[Math.floor(random() * items.length)];
  const corpus = [];
  const bases = baseResources();
  for (const [kind, mutate] of Object.entries(MUTATORS)) {
    for (let n = 0; n < 60 && corpus.filter((c) => c.kind === kind).length < 18; n++) {
      const base = bases[n % bases.length];
      const r = structuredClone(base);
      if (!mutate(r, pick)) continue;
      corpus.push({ kind, name: `${kind}-${String(n).padStart(2, '0')}-${base.resourceType}`, resource: r });
    }
  }
  return corpus;
}

test('every valid example passes Medplum and ours', () => {
  const files = readdirSync(validDir).map((f) => path.join(validDir, f));
  for (const f of files) {
    assert.deepEqual(medplumErrors(JSON.parse(readFileSync(f, 'utf8'))), [], path.basename(f));
  }
  const ours = execFileSync(gatewayBin, ['validate', '--profiles-dir', profilesDir, ...files], { encoding: 'utf8' });
  assert.doesNotMatch(ours, /: error /);
});

test('a mutation corpus: same verdict on base-R4 structure, ours stricter where Medplum does not check', () => {
  const corpus = buildCorpus();
  assert.ok(corpus.length >= 200, `corpus has ${corpus.length} resources`);
  const dir = mkdtempSync(path.join(tmpdir(), 'kgw-judge-'));
  try {
    const files = corpus.map((c, i) => {
      const f = path.join(dir, `${String(i).padStart(3, '0')}-${c.name}.json`);
      writeFileSync(f, JSON.stringify(c.resource));
      return f;
    });
    const ours = ourVerdicts(files);
    const disagreements = [];
    const summary = {};
    corpus.forEach((c, i) => {
      const theirs = medplumErrors(c.resource).length > 0;
      const structural = ours[i].filter((issue) => STRUCTURAL.test(ruleOf(issue))).length > 0;
      const anyOurs = ours[i].length > 0;
      const s = (summary[c.kind] ??= { total: 0, agree: 0, oursStricter: 0 });
      s.total++;
      if (OURS_STRICTER.has(c.kind)) {
        assert.ok(anyOurs, `${c.name}: ours must reject`);
        if (!theirs) s.oursStricter++;
        else s.agree++;
        return;
      }
      if (structural === theirs) {
        s.agree++;
      } else {
        disagreements.push({ name: c.name, medplum: theirs, ours: structural,
          oursRules: ours[i].map(ruleOf), medplumText: medplumErrors(c.resource).map((x) => x.details?.text) });
      }
    });
    console.log(JSON.stringify({ corpus: corpus.length, summary }, null, 1));
    const unexplained = disagreements.filter((d) => !KNOWN_DIFFERENCES[d.name]);
    assert.deepEqual(unexplained, [], 'every disagreement is listed and explained');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fhir-profiles/r4/base.json is exactly what compact-r4.mjs makes from the pinned definitions', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kgw-compact-'));
  try {
    const out = path.join(dir, 'base.json');
    execFileSync(process.execPath, [path.join(profilesDir, 'tools', 'compact-r4.mjs'), out]);
    assert.equal(readFileSync(out, 'utf8'), readFileSync(path.join(profilesDir, 'r4', 'base.json'), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
