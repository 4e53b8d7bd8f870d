import { describe, it, expect } from 'vitest';
import { ESLint } from 'eslint';

// The dependency direction of STYLE.md is enforced by lint; this proves the rules bite.

const eslint = new ESLint({ cwd: process.cwd() });

async function problems(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

describe('dependency direction', () => {
  it.each([
    ['core/x.ts', "import { S3Client } from '@aws-sdk/client-s3';\nexport const c = S3Client;\n", /Only adapters/],
    ['core/x.ts', "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n", /core\/ does no I\/O/],
    ['core/x.ts', 'export const t = Date.now();\n', /Time comes from a Clock/],
    ['core/x.ts', 'export const e = process.env.HOME;\n', /composition root/],
    ['core/x.ts', "import { Agent } from '../agent/agent.ts';\nexport const a = Agent;\n", /core\/ is pure/],
    ['agent/x.ts', "import { S3Client } from '@aws-sdk/client-s3';\nexport const c = S3Client;\n", /Only adapters/],
    ['agent/x.ts', "import { handler } from '../functions/ingest/handler.ts';\nexport const h = handler;\n", /never import each other/],
    ['functions/x/y.ts', "import { Agent } from '../../agent/agent.ts';\nexport const a = Agent;\n", /never import each other/],
  ])('%s: %s is refused', async (file, code, message) => {
    expect((await problems(file, code)).join('\n')).toMatch(message);
  });

  it('allows adapters to import the AWS SDK', async () => {
    expect(await problems('adapters/x.ts', "import { S3Client } from '@aws-sdk/client-s3';\nexport const c = S3Client;\n")).toEqual([]);
  });
});
