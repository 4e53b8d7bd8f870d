import { join } from 'node:path';
import { silentLogger } from '../../agent/log.ts';
import { buildAgent } from '../../cli/build-agent.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { agentCloudYaml } from './local-cloud.ts';

// One pass of a site's agent over a recorder's directory, as the page tests ship their calls:
// a recordings source with no settling, its state under `dir`, signed as the site's agent role.

export async function shipRecorder(cloud: LocalCloud, site: string, dir: string, root: string) {
  const agent = buildAgent(
    parseAgentConfig(`
site: ${site}
state: ${join(dir, 'state')}
cloud: ${agentCloudYaml(cloud, site)}
sources:
  - { name: contactstore, type: recordings, path: ${root}, quietSeconds: 0, settleSeconds: 0 }
`),
    { log: silentLogger },
  );
  try {
    return await agent.cycle();
  } finally {
    agent.close();
  }
}
