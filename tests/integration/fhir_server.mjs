// A real FHIR server for delivery tests: Medplum's FhirRouter over its MemoryRepository (the
// packages @medplum/fhir-router and @medplum/core 4.5.2, pinned in tests/peers), served with
// node:http under /fhir/R4. setDown(true) answers 503 to everything (a server "down for a while"),
// setReject(true) 400 (a server that refuses the content).
import http from 'node:http';
import { peer } from './peers.mjs';

export async function startFhirServer() {
  const { FhirRouter, MemoryRepository } = peer('@medplum/fhir-router');
  const { getStatus } = peer('@medplum/core');
  const router = new FhirRouter();
  const repo = new MemoryRepository();
  const state = { down: false, reject: false, requests: [] };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      state.requests.push({ method: req.method, url: req.url, key: req.headers['x-idempotency-key'] });
      if (state.reject) {  // a server that refuses the content: 400, the same every time
        res.writeHead(400, { 'Content-Type': 'application/fhir+json' });
        res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] }));
        return;
      }
      if (state.down) {
        res.writeHead(503, { 'Content-Type': 'application/fhir+json' });
        res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient' }] }));
        return;
      }
      try {
        const url = new URL(req.url, 'http://peer');
        const pathname = url.pathname.replace(/^\/fhir\/R4/, '') || '/';
        const query = Object.fromEntries(url.searchParams);
        const [outcome, resource] = await router.handleRequest({
          method: req.method, url: pathname + url.search, params: {}, query,
          body: body ? JSON.parse(body) : undefined, headers: req.headers,
        }, repo);
        res.writeHead(getStatus(outcome), { 'Content-Type': 'application/fhir+json' });
        res.end(JSON.stringify(resource ?? outcome));
      } catch (e) {
        res.writeHead(500, { 'Content-Type': 'application/fhir+json' });
        res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: String(e) }] }));
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}/fhir/R4`;
  return {
    base,
    repo,
    state,
    setDown(down) { state.down = down; },
    setReject(reject) { state.reject = reject; },
    async search(type, query = '') {
      const r = await fetch(`${base}/${type}${query ? `?${query}` : ''}`);
      return r.json();
    },
    close() { return new Promise((resolve) => server.close(resolve)); },
  };
}
