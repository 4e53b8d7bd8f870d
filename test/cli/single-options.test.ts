import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../cli/main.ts';
import { refuseRepeatedOptions } from '../../cli/single-options.ts';

// An option of one value given twice is refused (commander would keep the last silently).

function parse(program: Command, argv: string[]): { error?: string; seen?: Record<string, unknown> } {
  let seen: Record<string, unknown> | undefined;
  for (const sub of program.commands) sub.action((opts: Record<string, unknown>) => void (seen = opts));
  try {
    program.parse(argv, { from: 'user' });
    return { seen };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function sample(): Command {
  const program = new Command('t').exitOverride().configureOutput({ writeErr: () => undefined });
  program
    .command('run')
    .option('--rid <rid>', 'one call')
    .option('--limit <n>', 'page size', '25')
    .option('--tag <tag...>', 'several')
    .option('--count <n>', 'parsed', (v) => Number(v))
    .option('--json', 'flag');
  refuseRepeatedOptions(program);
  return program;
}

describe('options of one value', () => {
  it('refuses one given twice, naming both values; takes it once, and its default', () => {
    expect(parse(sample(), ['run', '--rid', 'A', '--rid', 'B']).error).toMatch(/--rid was given twice \("A", then "B"\): it takes one value/);
    expect(parse(sample(), ['run', '--rid', 'A']).seen).toEqual({ rid: 'A', limit: '25' });
    expect(parse(sample(), ['run', '--limit', '10']).seen).toEqual({ limit: '10' });
    expect(parse(sample(), ['run', '--limit', '10', '--limit', '50']).error).toMatch(/--limit was given twice/);
  });

  it('leaves variadic options, options with a parser of their own and flags as they are', () => {
    expect(parse(sample(), ['run', '--tag', 'a', '--tag', 'b', '--count', '1', '--count', '2', '--json', '--json']).seen).toEqual({ tag: ['a', 'b'], count: 2, json: true, limit: '25' });
  });

  it("is applied to ferry's program: `hold place --rid A --rid B` is a usage error, not a hold of B alone", async () => {
    const program = await buildProgram(['hold']);
    program.configureOutput({ writeErr: () => undefined });
    for (const c of program.commands) c.configureOutput({ writeErr: () => undefined });
    const place = program.commands.find((c) => c.name() === 'hold')!.commands.find((c) => c.name() === 'place')!;
    place.configureOutput({ writeErr: () => undefined });
    place.exitOverride();
    await expect(program.parseAsync(['hold', 'place', '--site', 'demo', '--rid', 'r05f0f6f03c1ad59a750f5eb', '--rid', 'rd4c7dd7507a603786e3c1f0', '--reason', 'x'], { from: 'user' })).rejects.toThrow(/--rid was given twice/);
  });
});
