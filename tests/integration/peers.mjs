// Loads the npm test peers pinned in tests/peers (package-lock.json there).
import { createRequire } from 'node:module';

const require = createRequire(new URL('../peers/package.json', import.meta.url));
export function peer(name) {
  return require(name);
}
