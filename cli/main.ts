import { Command, CommanderError } from 'commander';
import { registerAgentCommands } from './agent-commands.ts';
import { registerCallsCommands } from './calls-commands.ts';
import { registerCatalogueCommands } from './catalogue-commands.ts';
import { registerStartCommand } from './start.ts';
import { ConfigError, messageOf } from '../core/errors.ts';

// `ferry`: one command for the administrator (agent), the compliance officer (calls) and the
// operator (catalogue, start). Errors are printed as one clear message, not a stack trace.

export function buildProgram(): Command {
  const program = new Command('ferry')
    .description('Offsite backup for contact-centre and telephony systems')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerStartCommand(program);
  registerAgentCommands(program);
  registerCallsCommands(program);
  registerCatalogueCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof ConfigError) process.stderr.write(`ferry: ${error.message}\n`);
    else process.stderr.write(`ferry: ${messageOf(error)}\n`);
    if (process.env.FERRY_DEBUG) console.error(error);
    return error instanceof ConfigError ? 2 : 1;
  }
}
