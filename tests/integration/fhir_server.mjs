// A real FHIR server for delivery tests: Medplum's FhirRouter over its MemoryRepository (the
// packages @medplum/fhir-router and @medplum/core 4.5.2, pinned in tests/peers), served with
// node:http under /fhir/R4. setDown(true) answers 503 to everything (a server "down for a while"),
// setReject(true) 400 (a server that refuses the content).
import http from 'node:http';
import { peer } from './peers.mjs';

// With { auth: true } it also serves an OAuth2 token endpoint (client credentials) at /token and
// answers 401 to FHIR requests without a current token; revokeTokens() makes every token stale.
export async function startFhirServer({ auth = false, clientId = 'kgw', clientSecret = 's3cret' } = {}) {
  const { FhirRouter, MemoryRepository } = peer('@medplum/fhir-router');
  const { getStatus } = peer('@medplum/core');
  const router = new FhirRouter();
  const repo = new MemoryRepository();
  const state = { down: false, reject: false, requests: [], tokens: new Set(), tokensIssued: 0, unauthorized: 0 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      if (auth && req.url === '/token') {
        const form = new URLSearchParams(body);
        if (req.method !== 'POST' || form.get('grant_type') !== 'client_credentials' ||
            form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) {
          res.writeHead(401, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: 'invalid_client' }));
          return;
        }
        const token = `tok-${++state.tokensIssued}`;
        state.tokens.add(token);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3600 }));
        return;
      }
      if (auth && !state.tokens.has((req.headers.authorization ?? '').replace(/^Bearer /, ''))) {
        state.unauthorized++;
        res.writeHead(401, { 'Content-Type': 'application/fhir+json' });
        res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] }));
        return;
      }
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
    revokeTokens() { state.tokens.clear(); },
    tokenUrl: `http://127.0.0.1:${server.address().port}/token`,
    async search(type, query = '') {
      // The test itself holds a token of its own when the server wants one.
      const token = `test-${Math.random()}`;
      state.tokens.add(token);
      const r = await fetch(`${base}/${type}${query ? `?${query}` : ''}`, { headers: { Authorization: `Bearer ${token}` } });
      state.tokens.delete(token);
      return r.json();
    },
    close() { return new Promise((resolve) => server.close(resolve)); },
  };
}
