import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAgentConfig } from '../../core/config.ts';

// The configuration an administrator copies from the README must be accepted as written.

const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
const yamlBlocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');

describe('README', () => {
  it('shows an agent configuration that validates, with every source type', () => {
    expect(yamlBlocks.length).toBeGreaterThanOrEqual(2);
    const config = parseAgentConfig(`${yamlBlocks[0]!.trimEnd()}\n${yamlBlocks[1]}`, 'README');
    expect(config.sources.map((s) => s.type).sort()).toEqual(['archive', 'binlog', 'recordings', 'rotated', 'rotated', 'rotated']);
  });

  it('gives the two commands on its first screen', () => {
    const firstScreen = readme.split('\n').slice(0, 20).join('\n');
    expect(firstScreen).toContain('npm start');
    expect(firstScreen).toContain('npm test');
  });
});
