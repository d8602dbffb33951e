// Starts and stops `ketamine-gateway serve` for integration tests: fresh data folder, port 0,
// readiness from the "listening mllp HOST:PORT" line (no sleeps), stopped by its PID.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const gatewayBin = process.env.KGW_BIN;
if (!gatewayBin) throw new Error('KGW_BIN must name the ketamine-gateway executable');

export function freshDataDir(prefix = 'kgw-it-') {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export async function startGateway({ dataDir = freshDataDir(), args = [], timeoutMs = 15000 } = {}) {
  const proc = spawn(gatewayBin, ['serve', '--data-dir', dataDir, '--mllp-port', '0', '--http-port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const [port, httpPort] = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`gateway not ready in ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening mllp [^\s:]+:(\d+)/);
      const h = out.match(/listening http [^\s:]+:(\d+)/);
      if (m && h) {
        clearTimeout(timer);
        resolve([Number(m[1]), Number(h[1])]);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}: ${stderr}`));
    });
  });
  return {
    proc,
    port,
    httpPort,
    fhirBase: `http://127.0.0.1:${httpPort}/fhir`,
    dataDir,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? proc.signalCode;  // already gone
      return new Promise((resolve) => {
        proc.once('exit', (code, sig) => resolve(code ?? sig));
        proc.kill(signal);
      });
    },
    cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// Polls `check` (sync or async) every 50 ms until it is true or `ms` have passed; true if it held.
export async function until(check, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
