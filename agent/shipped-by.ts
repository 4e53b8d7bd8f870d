import { hostname } from 'node:os';
import type { ShippedBy } from '../core/manifest.ts';
import { heartbeatMemoryFile, readHeartbeatMemory, type HeartbeatMemory } from './heartbeat-memory.ts';
import type { Logger } from './log.ts';
import { readJsonFile, writeFileAtomic } from './state/atomic-file.ts';

/**
 * Who ships from this state directory, as every manifest the agent writes says (`shippedBy`): the
 * host name and the agent id its heartbeats carry. A directory whose heartbeat memory has no id
 * yet (a first pass: the heartbeat comes after the packs) is given it now, kept in heartbeat.json
 * where the heartbeat takes it from, so that the manifests and the heartbeats name one agent. An
 * id that cannot be kept (a full disk) or read (a damaged heartbeat.json: the heartbeat says so)
 * is left out of the manifests rather than named there and never heartbeated; nothing stops shipping.
 */
export function shippingAgent(state: string, log: Pick<Logger, 'warn'>): ShippedBy {
  const host = hostname().slice(0, 255);
  let kept: unknown;
  try {
    kept = readJsonFile<HeartbeatMemory>(heartbeatMemoryFile(state))?.agentId;
  } catch (error) {
    log.warn('agent id not read from the state directory: manifests of this pass name the host only', { error: error instanceof Error ? error.message : String(error) });
    return { host: host === '' ? 'unnamed host' : host };
  }
  let agentId = typeof kept === 'string' && kept.length > 0 && kept.length <= 64 ? kept : undefined;
  if (kept === undefined) {
    const memory = readHeartbeatMemory(state);
    try {
      writeFileAtomic(heartbeatMemoryFile(state), JSON.stringify(memory));
      agentId = memory.agentId;
    } catch (error) {
      log.warn('agent id not saved in the state directory: manifests of this pass name the host only', { error: error instanceof Error ? error.message : String(error) });
    }
  }
  return { host: host === '' ? 'unnamed host' : host, ...(agentId === undefined ? {} : { agentId }) };
}

/**
 * Names the pass's shipping agent in `named`, the one object every manifest writer of the process
 * holds (a service's Agent lives for weeks): set again at the start of each pass, so that a host
 * renamed, or a heartbeat.json repaired or made anew, is what the next pass's manifests say, as
 * its heartbeat does, not what the process found when it started.
 */
export function renewShippingAgent(named: ShippedBy, state: string, log: Pick<Logger, 'warn'>): void {
  const now = shippingAgent(state, log);
  named.host = now.host;
  if (now.agentId === undefined) delete named.agentId;
  else named.agentId = now.agentId;
}
