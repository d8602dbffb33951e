// A fast FHIR endpoint for delivery load runs: it parses every POSTed transaction Bundle, answers
// a transaction-response (201 per entry), and counts deliveries (unique and repeated) by the
// MedicationRequest each message carries, or else by X-Idempotency-Key; bundles and entries too.
// It validates nothing: the Medplum-based peer of the tests does that at about 2,300 writes/s,
// below the delivery rate being measured. GET /stats gives the counts.
//   node tests/bench/fhir_sink.mjs   -> prints "listening http 127.0.0.1:PORT"
import http from 'node:http';

const seen = new Set();
const stats = { bundles: 0, entries: 0, unique: 0, repeated: 0, refused: 0, first_ms: 0, last_ms: 0 };

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/stats') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(stats));
      return;
    }
    let bundle;
    try {
      bundle = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      bundle = null;
    }
    if (req.method !== 'POST' || !bundle || bundle.resourceType !== 'Bundle' || !Array.isArray(bundle.entry)) {
      stats.refused++;
      res.writeHead(400, { 'Content-Type': 'application/fhir+json' });
      res.end('{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}');
      return;
    }
    // One delivery per message: each message is one order, so its MedicationRequest counts it (a
    // request may carry several messages merged); without one, the request's idempotency key.
    const orders = bundle.entry.filter((e) => e.resource?.resourceType === 'MedicationRequest').map((e) => e.request?.url ?? '');
    for (const key of orders.length > 0 ? orders : [req.headers['x-idempotency-key'] ?? '']) {
      if (seen.has(key)) {
        stats.repeated++;
      } else {
        seen.add(key);
        stats.unique++;
      }
    }
    stats.bundles++;
    stats.entries += bundle.entry.length;
    const now = Date.now();
    if (stats.first_ms === 0) stats.first_ms = now;
    stats.last_ms = now;
    const entry = bundle.entry.map((e) => ({ response: { status: '201 Created', location: e.request?.url ?? '' } }));
    res.writeHead(200, { 'Content-Type': 'application/fhir+json' });
    res.end(JSON.stringify({ resourceType: 'Bundle', type: 'transaction-response', entry }));
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(`listening http 127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
