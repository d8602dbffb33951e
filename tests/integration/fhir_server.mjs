// A real FHIR server for delivery tests: Medplum's FhirRouter over its MemoryRepository (the
// packages @medplum/fhir-router and @medplum/core 4.5.2, pinned in tests/peers), served with
// node:http under /fhir/R4. setDown(true) answers 503 to everything (a server "down for a while"),
// setReject(true) 400 (a server that refuses the content), setReject('text') 400 to the requests
// whose body holds that text, holdAnswers() keeps answers back until released; state.requests records each request (with the MedicationRequests of
// its Bundle as `orders`).
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { peer } from './peers.mjs';

// With { auth: true } it also serves an OAuth2 token endpoint (client credentials) at /token and
// answers 401 to FHIR requests without a current token; revokeTokens() makes every token stale.
// With { smartKeys: { kid: publicKey } } the token endpoint takes SMART Backend Services client
// assertions instead of a secret: the JWT's signature (RS384 or ES384) is checked with the key its
// kid names, and iss, sub, aud, exp and a never-seen jti as SMART asks.
// With { tls: { key, cert, ca } } it serves HTTPS and wants a client certificate signed by `ca`
// (mutual TLS); state.clients lists the subjects of the certificates it accepted.
export async function startFhirServer({ auth = false, clientId = 'kgw', clientSecret = 's3cret', smartKeys = null, tls = null } = {}) {
  const { FhirRouter, MemoryRepository } = peer('@medplum/fhir-router');
  const { getStatus } = peer('@medplum/core');
  const router = new FhirRouter();
  const repo = new MemoryRepository();
  const state = { down: false, reject: false, requests: [], tokens: new Set(), tokensIssued: 0, unauthorized: 0,
    assertions: [], refusedAssertions: [], clients: [] };
  const seenJti = new Set();
  let tokenUrl;
  // A SMART client assertion: null when good, else why not.
  const checkAssertion = (form) => {
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return 'assertion type';
    const parts = (form.get('client_assertion') ?? '').split('.');
    if (parts.length !== 3) return 'not a JWT';
    const header = JSON.parse(Buffer.from(parts[0], 'base64url'));
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url'));
    const key = smartKeys[header.kid];
    if (!key) return `unknown kid ${header.kid}`;
    if (header.alg !== 'RS384' && header.alg !== 'ES384') return `alg ${header.alg}`;
    const good = crypto.verify('sha384', Buffer.from(`${parts[0]}.${parts[1]}`),
      header.alg === 'ES384' ? { key, dsaEncoding: 'ieee-p1363' } : key, Buffer.from(parts[2], 'base64url'));
    if (!good) return 'bad signature';
    const now = Date.now() / 1000;
    if (claims.iss !== clientId || claims.sub !== clientId) return 'iss/sub';
    if (claims.aud !== tokenUrl) return `aud ${claims.aud}`;
    if (!(claims.exp > now && claims.exp <= now + 310)) return 'exp';
    if (!claims.jti || seenJti.has(claims.jti)) return 'jti replayed';
    seenJti.add(claims.jti);
    state.assertions.push({ header, claims });
    return null;
  };
  const handler = (req, res) => {
    if (tls) state.clients.push(req.socket.getPeerCertificate()?.subject?.CN);
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      if (auth && req.url === '/token') {
        const form = new URLSearchParams(body);
        const refused = smartKeys ? checkAssertion(form) : null;
        if (refused) state.refusedAssertions.push(refused);
        if (req.method !== 'POST' || form.get('grant_type') !== 'client_credentials' || refused ||
            (!smartKeys && (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret))) {
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
      let orders = 0;  // MedicationRequests in a Bundle, to see how many messages a request carried
      try {
        orders = (JSON.parse(body || '{}').entry ?? []).filter((e) => e.resource?.resourceType === 'MedicationRequest').length;
      } catch {
        // not JSON: the router below answers it
      }
      state.requests.push({ method: req.method, url: req.url, key: req.headers['x-idempotency-key'], orders });
      if (state.held) await state.held;  // holdAnswers(): answered once released
      if (state.reject === true || (typeof state.reject === 'string' && body.includes(state.reject))) {
        // a server that refuses the content: 400, the same every time
        state.requests.at(-1).refused = true;
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
  };
  const server = tls
    ? https.createServer({ key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: true }, handler)
    : http.createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const scheme = tls ? 'https' : 'http';
  const base = `${scheme}://127.0.0.1:${server.address().port}/fhir/R4`;
  tokenUrl = `${scheme}://127.0.0.1:${server.address().port}/token`;
  return {
    base,
    repo,
    state,
    setDown(down) { state.down = down; },
    setReject(reject) { state.reject = reject; },
    // Requests that arrive from now on are recorded and then wait for their answer until the
    // function returned is called (a slow server, on cue).
    holdAnswers() {
      let release;
      state.held = new Promise((resolve) => { release = resolve; });
      return () => { state.held = null; release(); };
    },
    revokeTokens() { state.tokens.clear(); },
    tokenUrl,
    async search(type, query = '') {
      // The test itself holds a token of its own when the server wants one.
      const token = `test-${Math.random()}`;
      state.tokens.add(token);
      const r = await fetch(`${base}/${type}${query ? `?${query}` : ''}`, { headers: { Authorization: `Bearer ${token}` } });
      state.tokens.delete(token);
      return r.json();
    },
    // The placer order numbers (ORC-2) of every MedicationRequest on the server, in its order.
    async placerNumbers() {
      const found = await this.search('MedicationRequest', '_count=5000');
      return (found.entry ?? []).map((e) => e.resource.identifier.find((i) => i.type?.coding?.[0]?.code === 'PLAC').value);
    },
    close() { return new Promise((resolve) => server.close(resolve)); },
  };
}
