// Loaded into an agent process (`node --import`) by the tests of a store whose name stops
// resolving for a while, as a flaky branch line's DNS does: `localhost` resolves to 127.0.0.1
// while the file LINE_DNS_DOWN does not exist; while it does, the name asked is one that never
// resolves (.invalid, RFC 6761), so the failure the process sees is the system resolver's own
// (getaddrinfo ENOTFOUND or EAI_AGAIN). Other names resolve as usual.
import dns from 'node:dns';
import { existsSync } from 'node:fs';

const down = process.env.LINE_DNS_DOWN;
const lookup = dns.lookup;
dns.lookup = function switched(hostname, options, callback) {
  if (!down || hostname !== 'localhost') return lookup.call(this, hostname, options, callback);
  const cb = typeof options === 'function' ? options : callback;
  const opts = typeof options === 'function' ? {} : { ...(typeof options === 'number' ? { family: options } : options), family: 4 };
  return lookup.call(this, existsSync(down) ? 'ferry-store.invalid' : '127.0.0.1', opts, cb);
};
