import { Command, CommanderError } from 'commander';
import { refuseRepeatedOptions } from './single-options.ts';
import { quietOnClosedPipe, reportFatal, usageExitCode } from './fatal.ts';
import { FERRY_VERSION } from './version.ts';
import { agentGroup, registerGroups, type CommandGroups } from './command-groups.ts';
import { useProxyEnvironment } from '../adapters/proxy-environment.ts';

// `ferry`: one command for the administrator (agent), the compliance officer (calls) and the
// operator (catalogue, backups, restore, start). Errors are printed as one clear message, not
// a stack trace. Each command group is loaded only when it is used: the agent, a long-running
// service, should not carry the local cloud or the restore tooling in memory.

const GROUPS: CommandGroups = {
  start: async () => (await import('./start.ts')).registerStartCommand,
  agent: agentGroup,
  calls: async () => (await import('./calls-commands.ts')).registerCallsCommands,
  // Legal hold: `ferry hold …` and `ferry case …` share one module.
  hold: async () => (await import('./hold-commands.ts')).registerHoldCommands,
  catalogue: async () => (await import('./catalogue-commands.ts')).registerCatalogueCommands,
  // What the retention purge would delete (a plan; nothing deleted).
  purge: async () => (await import('./purge-commands.ts')).registerPurgeCommands,
  backups: async () => (await import('./backups-commands.ts')).registerBackupsCommands,
  restore: async () => (await import('./restore-commands.ts')).registerRestoreCommands,
  snapshots: async () => (await import('./tree-commands.ts')).registerSnapshotsCommands,
  // `agent install` joins the agent group; `cost estimate` is its own group.
  cost: async () => (await import('./cost-commands.ts')).registerCostCommands,
  fleet: async () => (await import('./fleet-commands.ts')).registerFleetCommands,
  // Daily report, monthly attestation, scrub and restore drills.
  report: async () => (await import('./report-commands.ts')).registerReportCommands,
  verify: async () => (await import('./verify-commands.ts')).registerVerifyCommands,
  drill: async () => (await import('./drill-commands.ts')).registerDrillCommands,
  // Case export with chain of custody, and the audit trail.
  case: async () => {
    const [{ registerCaseRecordCommands }, { registerCaseCommands }] = await Promise.all([import('./hold-commands.ts'), import('./case-commands.ts')]);
    return (program) => {
      registerCaseRecordCommands(program);
      registerCaseCommands(program);
    };
  },
  audit: async () => (await import('./audit-commands.ts')).registerAuditCommands,
  // Data subjects' erasure requests (`ferry calls erase` records one).
  erasures: async () => (await import('./erasure-commands.ts')).registerErasuresCommands,
};

/** The program with the command groups `argv` needs (all of them for help or an unknown word). */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('ferry')
    .description('Offsite backup for contact-centre and telephony systems')
    .version(FERRY_VERSION)
    .showHelpAfterError()
    .exitOverride();
  await registerGroups(program, GROUPS, argv);
  refuseRepeatedOptions(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipe();
  // AWS requests through the site's outbound proxy, when the environment names one (the SDK reads none).
  useProxyEnvironment(process.env);
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return usageExitCode(error);
    const code = reportFatal(error, argv);
    if (process.env.FERRY_DEBUG) console.error(error);
    return code;
  }
}
