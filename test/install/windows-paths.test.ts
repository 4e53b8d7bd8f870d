import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, win32 } from 'node:path';
import { parseAgentConfig } from '../../core/config.ts';
import { checkSitePaths, controlCharacterProblems, resolveConfigPaths } from '../../cli/build-agent.ts';
import type { ConfigError } from '../../core/errors.ts';
import { relativePathProblems } from '../../cli/install-commands.ts';

// rostrvm and OCS run on Windows: drive paths and UNC shares in the agent's config, read with
// Windows path rules (path.win32) whatever the host running the test.

const CONFIG_FILE = 'C:\\ProgramData\\Ferry\\agent.yaml';
const YAML = String.raw`
site: ocs-lon
state: C:\ProgramData\Ferry\state
sources:
  - { name: voice, type: archive, path: D:\rostrvm\archive }
  - name: meetings
    type: archive
    path: \\ocs-fs01\MeetingContent
  - name: sql
    type: rotated
    profile: generic
    patterns: ["*.bak"]
    path: //ocs-sql01/Backups/OCS/
  - name: settings
    type: rotated
    profile: generic
    patterns: ["*.xml"]
    path: 'E:/Exports/Settings'
  - name: overflow
    type: archive
    path: spool\overflow
`;

describe('Windows paths in the agent config', () => {
  const config = resolveConfigPaths(parseAgentConfig(YAML, CONFIG_FILE), CONFIG_FILE, win32);

  it('keeps drive paths and normalises forward slashes and trailing separators to Windows form', () => {
    expect(config.state).toBe('C:\\ProgramData\\Ferry\\state');
    expect(config.sources.map((s) => s.path)).toEqual([
      'D:\\rostrvm\\archive',
      '\\\\ocs-fs01\\MeetingContent\\',
      '\\\\ocs-sql01\\Backups\\OCS',
      'E:\\Exports\\Settings',
      'C:\\ProgramData\\Ferry\\spool\\overflow',
    ]);
  });

  it('resolves a relative path against the config file folder, on the config file drive', () => {
    expect(config.sources.at(-1)!.path).toBe('C:\\ProgramData\\Ferry\\spool\\overflow');
  });

  it('counts drive and UNC paths as absolute for a service, and refuses a drive-relative D:foo', () => {
    expect(relativePathProblems(YAML.replace('spool\\overflow', 'F:\\spool'), win32.isAbsolute)).toEqual([]);
    expect(relativePathProblems(YAML.replace('D:\\rostrvm\\archive', 'D:rostrvm'), win32.isAbsolute)).toEqual([
      'sources[0].path: "D:rostrvm" is a relative path; a service needs an absolute one',
      'sources[4].path: "spool\\overflow" is a relative path; a service needs an absolute one',
    ]);
  });

  it('refuses a backslash path mangled by double quotes (YAML reads \\r as a carriage return), naming the setting and the fix', () => {
    const mangled = parseAgentConfig(YAML.replace('path: D:\\rostrvm\\archive', 'path: "D:\\rostrvm\\archive"'), CONFIG_FILE);
    expect(mangled.sources[0]!.path).toBe('D:\rostrvm\x07rchive');
    const problems = controlCharacterProblems(mangled);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^sources\[0\]\.path: "D:\\rostrvm\\u0007rchive" contains a control character: .*single quotes/);
    expect(controlCharacterProblems(parseAgentConfig(YAML, CONFIG_FILE))).toEqual([]);
  });

  it('accepts the configuration docs/install-windows.md shows, with its paths as written, the OCS meeting-content share as a tree source', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../docs/install-windows.md'), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)![1]!;
    const parsed = parseAgentConfig(yaml, CONFIG_FILE);
    // A share of folders: an archive source takes only the files directly in its path (none there).
    expect(parsed.sources.map((s) => `${s.name}:${s.type}`)).toEqual(['meetings:tree', 'ocs-sql:rotated', 'rostrvm-archive:archive']);
    expect(controlCharacterProblems(parsed)).toEqual([]);
    expect(relativePathProblems(yaml, win32.isAbsolute)).toEqual([]);
    expect(resolveConfigPaths(parsed, CONFIG_FILE, win32).sources.map((s) => s.path)).toEqual(['\\\\ocs-fs01\\MeetingContent\\', 'D:\\Backups\\OCS', 'D:\\rostrvm\\archive']);
  });
});

describe('a Windows path, or a state directory in the wrong place, on a Linux host', () => {
  it('says a source path that does not exist looks like a Windows drive or share path, and refuses a state directory inside a recordings root', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-winpath-'));
    mkdirSync(join(dir, 'rec'));
    const text = `site: x\nstate: ${join(dir, 'rec', 'state')}\nsources:\n  - { name: r, type: recordings, path: ${join(dir, 'rec')} }\n  - { name: s, type: rotated, profile: generic, patterns: ["*.bak"], path: 'D:\\Backups\\OCS' }\n  - { name: t, type: tree, path: '\\\\ocs-fs01\\MeetingContent' }\n`;
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, text);
    const config = resolveConfigPaths(parseAgentConfig(text, file), file);
    const problems = await checkSitePaths(config).then(() => [], (e: ConfigError) => e.problems);
    expect(problems).toContain(`sources[1].path: ${join(dir, 'D:\\Backups\\OCS')} does not exist (it looks like a Windows path: on this host give the directory where that disk or share is mounted, e.g. /mnt/ocs-share)`);
    expect(problems.find((p) => p.startsWith('sources[2].path:'))).toMatch(/looks like a Windows path/);
    expect(problems).toContain(`state: ${join(dir, 'rec', 'state')} lies inside the recordings root of sources[0] (${join(dir, 'rec')}): the agent would walk it as a batch of recordings; keep the state directory elsewhere`);
  });
});

