import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../cli/main.ts';

// `ferry case export --rid`: the calls an officer copies from a search, as `case create --rid` takes them.

const A = 'r0b5b4a5410579f0537886a6';
const B = 'r41c0e6d5006862ba3f0d0d6';
const C = 'reebca294e21e2a35928625a';

/** The options `case export` is given for `argv` (its action replaced: nothing is exported). */
async function exportOptions(argv: string[]): Promise<Record<string, unknown>> {
  const program = await buildProgram(['case']);
  const exporter = program.commands.find((c) => c.name() === 'case')!.commands.find((c) => c.name() === 'export')!;
  let seen: Record<string, unknown> = {};
  exporter.action((opts: Record<string, unknown>) => void (seen = opts));
  for (const c of [program, ...program.commands, exporter]) c.exitOverride().configureOutput({ writeErr: () => undefined });
  await program.parseAsync(['case', 'export', '--site', 'demo', ...argv, '--reason', 'FCA request', '--out', 'f.tar'], { from: 'user' });
  return seen;
}

describe('ferry case export --rid', () => {
  it('takes several ids after one --rid, as case create does, and still takes --rid repeated (before, three ids after one --rid were "too many arguments for \'export\'")', async () => {
    expect((await exportOptions(['--rid', A, B, C])).rid).toEqual([A, B, C]);
    expect((await exportOptions(['--rid', A, '--rid', B, C])).rid).toEqual([A, B, C]);
    expect((await exportOptions(['--rid', A])).rid).toEqual([A]);
  });
});
