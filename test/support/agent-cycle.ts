import { createLogger } from '../../agent/log.ts';
import { buildAgent } from '../../cli/build-agent.ts';
import type { AgentConfig } from '../../core/config.ts';

// One pass of a real agent (the CLI's composition root) with its log kept, for tests that read
// what it reported and what it logged.

export async function cycleOnce(config: AgentConfig): Promise<{ report: Awaited<ReturnType<ReturnType<typeof buildAgent>['cycle']>>; logged: string }> {
  const logged: string[] = [];
  const agent = buildAgent(config, { log: createLogger({ json: true, level: 'debug', write: (line) => logged.push(line) }) });
  try {
    const report = await agent.cycle();
    return { report, logged: logged.join('\n') };
  } finally {
    agent.close();
  }
}
