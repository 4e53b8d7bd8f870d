import { describe, it, expect } from 'vitest';
import { parseAgentConfig, type SourceConfig } from '../../core/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { globMatcher, globProblem } from '../../core/glob.ts';
import { ARCHIVE_DEFAULT_PATTERNS } from '../../core/artefact-sources.ts';

const head = 'site: site-a\nstate: ./state\nsources:\n';
const parse = (sources: string): SourceConfig[] => parseAgentConfig(head + sources).sources;

function problems(sources: string): string {
  try {
    parseAgentConfig(head + sources);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.join('\n');
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('artefact source configuration', () => {
  it('fills rotated defaults per profile', () => {
    const [cvp, rostrvm, generic] = parse(`
  - { name: cvp, type: rotated, profile: cvp, path: /cvp }
  - { name: rostrvm, type: rotated, profile: rostrvm, path: /rostrvm/backups }
  - { name: ocs, type: rotated, path: /backups, patterns: ["*.bak", "*.xml"] }
`);
    expect(cvp).toEqual({ name: 'cvp', type: 'rotated', profile: 'cvp', path: '/cvp', patterns: ['cvp_backup_data.old'], stableSeconds: 120, minAgeSeconds: 0, formatCheck: true });
    expect(rostrvm).toMatchObject({ profile: 'rostrvm', patterns: ['rostrvm_*_*.rbk'] });
    expect(generic).toMatchObject({ profile: 'generic', patterns: ['*.bak', '*.xml'] });
  });

  it('fills binlog and archive defaults', () => {
    const [binlog, archive] = parse(`
  - { name: db, type: binlog, path: /var/lib/mysql }
  - { name: media, type: archive, path: /archives }
`);
    expect(binlog).toEqual({ name: 'db', type: 'binlog', path: '/var/lib/mysql', partialIntervalSeconds: 300, partialLockDays: 2, partialLockMode: 'governance', timezone: 'UTC' });
    expect(archive).toMatchObject({ patterns: ARCHIVE_DEFAULT_PATTERNS, timeFormat: 'auto', timezone: 'UTC', stableSeconds: 120 });
  });

  it.each(['cvp_backup_data', 'cvp_*', '*', 'CVP_BACKUP_DATA', 'cvp_backup_dat?', 'cvp_backup_[a-d]ata', '*data'])('refuses a cvp pattern that would select the live backup: %s', (pattern) => {
    expect(problems(`  - { name: cvp, type: rotated, profile: cvp, path: /cvp, patterns: ["cvp_backup_data.old", "${pattern}"] }`)).toContain(
      `sources[0].patterns[1]: "${pattern}" would select cvp_backup_data, the live CVP backup; only cvp_backup_data.old may be copied`,
    );
  });

  it.each([
    ['  - { name: x, type: rotated, path: /b }', 'sources[0].patterns: patterns are required for profile generic'],
    ['  - { name: x, type: rotated, profile: oracle, path: /b }', 'sources[0].profile: profile must be one of cvp, rostrvm, generic'],
    ['  - { name: x, type: rotated, profile: rostrvm, path: /b, patterns: ["backups/*.rbk"] }', 'sources[0].patterns[0]: "backups/*.rbk" contains a path separator'],
    ['  - { name: x, type: rotated, profile: rostrvm, path: /b, patterns: [] }', 'sources[0].patterns: patterns cannot be empty'],
    ['  - { name: x, type: rotated, profile: rostrvm, path: /b, stableSeconds: -1 }', 'sources[0].stableSeconds:'],
    ['  - { name: x, type: binlog, path: /b, basename: "../mysql-bin" }', 'sources[0].basename: basename looks like'],
    ['  - { name: x, type: binlog, path: /b, indexFile: "/etc/mysql-bin.index" }', 'sources[0].indexFile: indexFile is a file name'],
    ['  - { name: x, type: binlog, path: /b, timezone: Mars/Olympus }', 'sources[0].timezone: unknown time zone "Mars/Olympus"'],
    ['  - { name: x, type: binlog, path: /b, partial: 5 }', 'sources[0]: unknown key(s) "partial"'],
    ['  - { name: x, type: archive, path: /a, namePattern: "(?<start>.*)" }', 'sources[0].namePattern: namePattern lacks the named group(s) (?<from>…), (?<to>…)'],
    ['  - { name: x, type: archive, path: /a, namePattern: "(?<from>" }', 'sources[0].namePattern: not a valid regular expression'],
    ['  - { name: x, type: archive, path: /a, timeFormat: "dd/QQ/yyyy" }', 'sources[0].timeFormat: time format "dd/QQ/yyyy" has an unknown letter'],
    ['  - { name: x, type: tape, path: /a }', 'sources[0].type: must be one of recordings, rotated, binlog, archive'],
  ])('%s → %s', (source, expected) => {
    expect(problems(source)).toContain(expected);
  });

  it('lists problems of several sources at once, with their paths', () => {
    const text = problems(`
  - { name: a, type: rotated, path: /a }
  - { name: b, type: rotated, profile: cvp, path: /b, patterns: ["cvp_*"] }
  - { name: a, type: archive, path: /c, namePattern: "x" }
`);
    expect(text).toContain('sources[0].patterns:');
    expect(text).toContain('sources[1].patterns[0]:');
    expect(text).toContain('sources[2].namePattern:');
    expect(text).toContain('sources[2].name: duplicate source name "a"');
  });
});

describe('file-name globs', () => {
  it('match names, case-insensitively, with *, ? and classes', () => {
    const rostrvm = globMatcher(['rostrvm_*_*.rbk']);
    expect(['rostrvm_920_1.rbk', 'ROSTRVM_920_2.RBK', 'rostrvm_9_2_1.rbk'].every(rostrvm)).toBe(true);
    expect(['rostrvm_920.rbk', 'rostrvm_920_1.rbk.tmp', 'x/rostrvm_920_1.rbk'].some(rostrvm)).toBe(false);
    const voice = globMatcher(['Voice Recording * *.sdb']);
    expect(voice('Voice Recording 2024-01-05 09.00 2024-01-06 09.00.sdb')).toBe(true);
    expect(voice('Voice Recording.sdb')).toBe(false);
    expect(globMatcher(['log[0-9].[!t]xt'])('log7.bxt')).toBe(true);
    expect(globMatcher(['log[0-9].[!t]xt'])('log7.txt')).toBe(false);
    expect(globMatcher(['a.b'])('axb')).toBe(false);
    expect(globProblem('[abc')).toMatch(/unclosed/);
  });
});
