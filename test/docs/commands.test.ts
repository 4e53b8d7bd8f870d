import { describe, it, expect, vi } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../cli/main.ts';
import { DOC_PAGES, docCommands, expansions, synopsis, type Part } from './doc-commands.ts';

// An administrator copies the command lines of the README and the docs as written: each must be
// one the real `ferry` accepts, with the commands and options it has, the options it requires
// and no more arguments than it takes. The lines are parsed by the CLI's own parser (commander,
// as cli/main.ts builds it) with every action replaced by nothing, so nothing runs. A line of a
// code block or of the README's command table is a whole command: what it leaves out must not be
// required. A command named in running text (`ferry agent status` shows …) may leave out what the
// command requires, but no more: an option it names must exist and take what it is given.

// Loading every command group loads the functions' Powertools, which set this variable.
vi.stubEnv('AWS_SDK_UA_APP_ID', process.env.AWS_SDK_UA_APP_ID);

const COMMAND_WORD = /^[a-z][a-z-]*(?:[|/][a-z][a-z-]*)*$/;

/** The program as `ferry` builds it, its actions doing nothing and its output kept. */
async function quietProgram(): Promise<{ program: Command; said: string[] }> {
  const program = await buildProgram([]);
  const said: string[] = [];
  const quiet = (c: Command) => {
    c.action(() => undefined).configureOutput({ writeOut: (s) => said.push(s), writeErr: (s) => said.push(s) });
    c.commands.forEach(quiet);
  };
  quiet(program);
  return { program, said };
}

const sub = (c: Command, name: string) => c.commands.find((s) => s.name() === name && name !== 'help');

/** What is wrong with one command line of the docs (undefined: nothing), parsed by a fresh program. */
async function problemOf(words: string[], whole: boolean): Promise<string | undefined> {
  const { program, said } = await quietProgram();
  try {
    await program.parseAsync(words, { from: 'user' });
    return undefined;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (!whole && ['commander.missingMandatoryOptionValue', 'commander.missingArgument', 'commander.optionMissingArgument'].includes(code ?? '')) return undefined;
    return said.join('').trim().split('\n')[0] || String(error);
  }
}

/** Every `--option` a synopsis names, in any group. */
const optionsIn = (parts: Part[]): string[] => parts.flatMap((p) => (typeof p === 'string' ? (/^--?[a-zA-Z]/.test(p) ? [p.replace(/=.*$/, '')] : []) : p.alternatives.flatMap(optionsIn)));

describe('the ferry command lines of the README and the docs', () => {
  const lines = DOC_PAGES.flatMap(docCommands);

  it('are found (a page that lost its commands would pass for one that has none wrong)', () => {
    expect(lines.length).toBeGreaterThan(200);
    expect(lines.filter((l) => l.where.startsWith('README.md')).length).toBeGreaterThan(40);
  });

  it('name commands and options the CLI has, and parse with its own parser as written', async () => {
    const { program } = await quietProgram();
    const problems: string[] = [];
    for (const line of lines) {
      const parts = synopsis(line.text);
      const first = parts[0];
      // `ferry (AWS_PROFILE) in …` is a message quoted, not a command.
      if (typeof first !== 'string' || !(COMMAND_WORD.test(first) || first.startsWith('-'))) continue;
      // The command's words, each possibly a choice (`hold place|release`, `restore plan/fetch`).
      let commands: { command: Command; words: string[] }[] = [{ command: program, words: [] }];
      let at = 0;
      for (; at < parts.length; at++) {
        const word = parts[at]!;
        if (typeof word !== 'string' || !COMMAND_WORD.test(word) || commands.every((c) => c.command.commands.length === 0)) break;
        const next: typeof commands = [];
        for (const c of commands) {
          for (const name of word.split(/[|/]/)) {
            const found = sub(c.command, name);
            if (found) next.push({ command: found, words: [...c.words, name] });
            else problems.push(`${line.where}: \`ferry ${line.text}\`: "ferry ${c.words.join(' ')}" has no command "${name}"`);
          }
        }
        commands = next;
      }
      const rest = parts.slice(at);
      for (const { command, words } of commands) {
        const known = new Set(['--help', '-h', ...command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined))]);
        if (command === program) known.add('--version').add('-V');
        for (const option of optionsIn(rest)) if (!known.has(option)) problems.push(`${line.where}: \`ferry ${line.text}\`: "ferry ${words.join(' ')}" has no option ${option}`);
        // A lone `…` leaves words out, and a command group alone (`ferry calls`) is a mention: neither is a whole line to parse.
        if (command.commands.length > 0 || rest.some((p) => p === '…')) continue;
        const whole = line.block || line.tableRow;
        for (const expansion of new Set(expansions(rest).map((e) => JSON.stringify(e)))) {
          const written: string[] = JSON.parse(expansion);
          const problem = await problemOf([...words, ...written.map((w) => w.replace(/…$/, ''))], whole);
          if (problem) problems.push(`${line.where}: \`ferry ${line.text}\` as \`ferry ${[...words, ...written].join(' ')}\`: ${problem}`);
        }
      }
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it('include a row of the README command table for every command `ferry --help` lists', async () => {
    const { program } = await quietProgram();
    const rows = docCommands('README.md').filter((l) => l.where.startsWith('README.md'));
    const table = new Set<string>();
    for (const row of rows) {
      const words: string[][] = [[]];
      for (const w of synopsis(row.text)) {
        if (typeof w !== 'string' || !COMMAND_WORD.test(w)) break;
        const alternatives = w.split(/[|/]/);
        words.splice(0, words.length, ...words.flatMap((ws) => alternatives.map((a) => [...ws, a])));
      }
      for (const ws of words) table.add(ws.join(' '));
    }
    const leaves: string[] = [];
    const walk = (c: Command, path: string[]) => {
      if (c.commands.length === 0) leaves.push(path.join(' '));
      for (const s of c.commands) if (s.name() !== 'help') walk(s, [...path, s.name()]);
    };
    walk(program, []);
    expect(leaves.length).toBeGreaterThan(30);
    expect(leaves.filter((l) => ![...table].some((t) => t === l || t.startsWith(`${l} `)))).toEqual([]);
  });
});
