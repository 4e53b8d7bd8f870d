import type { Command } from 'commander';
import { refusedBeforeLoading, runLogger } from './busy-state.ts';

// The `agent` commands as the command line knows them. Their code (agent-commands.ts: the SDK
// clients, the journal, the configuration checks) is loaded only once a command runs, and
// `agent run` asks the state directory's lock before loading it: a cron run beside an agent
// that holds the directory stops at once (busy-state.ts). Import nothing heavy here.

export function registerAgentCommands(program: Command): void {
  const agent = program.command('agent').description('run the on-prem agent or look at its state');

  agent
    .command('run')
    .description('ship closed batches to the cloud; keeps watching unless --once')
    .requiredOption('-c, --config <file>', 'agent configuration (YAML)')
    .option('--once', 'one pass: ship what is closed now, then exit')
    .option('--json-logs', 'JSON log lines even on a terminal')
    .action(async (opts: { config: string; once?: boolean; jsonLogs?: boolean }) => {
      if (refusedBeforeLoading(opts.config, runLogger(opts).log)) return;
      await (await import('./agent-commands.ts')).runCommand(opts);
    });

  agent
    .command('check')
    .description('check the configuration, the paths it names (state directory, every source path) and that the store answers this agent, then exit')
    .requiredOption('-c, --config <file>', 'agent configuration (YAML)')
    .action(async (opts: { config: string }) => (await import('./agent-check.ts')).checkCommand(opts));

  agent
    .command('status')
    .description('backlog, oldest unshipped batch, losses and totals')
    .requiredOption('-c, --config <file>', 'agent configuration (YAML)')
    .option('--json', 'machine-readable output')
    .option('--losses', 'every loss ever recorded, with the paths of its recordings, as JSON')
    .action(async (opts: { config: string; json?: boolean; losses?: boolean }) => (await import('./agent-commands.ts')).statusCommand(opts));
}
