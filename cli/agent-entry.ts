import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { quietOnClosedPipe, reportFatal, usageExitCode } from './fatal.ts';
import { refuseRepeatedOptions } from './single-options.ts';
import { FERRY_VERSION } from './version.ts';
import { agentGroup, registerGroups, type CommandGroups } from './command-groups.ts';
import { useProxyEnvironment } from '../adapters/proxy-environment.ts';

// Entry of the agent bundle (`npm run build` → dist/ferry-agent.mjs): only the `agent`
// commands (and `agent install`, so a host with only the bundle can install it as a service),
// and `restore` (plan, fetch, tree) with `snapshots list` (which snapshot to restore), so the
// site host (or a DR site's) can restore from the cloud with that one file too, and a restore
// starts without compiling the sources.
// Each group is imported when its command runs (the bundle evaluates a module imported so only
// then), and the agent's commands load their code only after `agent run` has asked the state
// directory's lock (agent-register.ts): a cron run beside a long pass stops before the SDK loads.

const GROUPS: CommandGroups = {
  agent: agentGroup,
  restore: async () => (await import('./restore-commands.ts')).registerRestoreCommands,
  snapshots: async () => (await import('./tree-commands.ts')).registerSnapshotsCommands,
};

export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipe();
  // AWS requests through the site's outbound proxy, when the environment names one (the SDK reads none).
  useProxyEnvironment(process.env);
  const program = new Command('ferry').version(FERRY_VERSION).showHelpAfterError().exitOverride();
  // Help, a version or an unknown word: every group, as before.
  await registerGroups(program, GROUPS, argv);
  refuseRepeatedOptions(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return usageExitCode(error);
    return reportFatal(error, argv);
  }
}

// Run as a file of its own (`node ferry-agent.mjs agent run …`: the single-file agent on a site
// host), the bundle runs its command; imported by bin/ferry.mjs, it only exports main.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
