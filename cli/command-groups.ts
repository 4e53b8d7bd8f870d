import type { Command } from 'commander';

// The command groups of `ferry` (cli/main.ts) and of the single-file agent (cli/agent-entry.ts):
// each group's module is imported only when its word is the command, so `agent run` from cron
// loads neither the local cloud nor the restore tooling. Import nothing heavy here.

export type Register = (program: Command) => void;
export type CommandGroups = Record<string, () => Promise<Register>>;

/** The `agent` group: the agent's commands (their code loaded when one runs: agent-register.ts) and `agent install`. */
export async function agentGroup(): Promise<Register> {
  const [{ registerAgentCommands }, { registerInstallCommands }] = await Promise.all([import('./agent-register.ts'), import('./install-commands.ts')]);
  return (program) => {
    registerAgentCommands(program);
    registerInstallCommands(program);
  };
}

/** Registers the group `argv`'s first word names, or every group for help, a version or an unknown word. */
export async function registerGroups(program: Command, groups: CommandGroups, argv: readonly string[]): Promise<void> {
  const first = argv.find((a) => !a.startsWith('-'));
  const wanted = first !== undefined && Object.hasOwn(groups, first) ? [first] : Object.keys(groups);
  for (const name of wanted) (await groups[name]!())(program);
}
