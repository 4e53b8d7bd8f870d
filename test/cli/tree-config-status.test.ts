import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAgentConfig } from '../../core/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { ManualClock } from '../../core/clock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { collectStatus, renderStatus } from '../../cli/agent-commands.ts';
import { leaveStateOutOfTrees, loadConfig } from '../../cli/build-agent.ts';
import { treePathMatcher } from '../../agent/tree/paths.ts';
import { win32 } from 'node:path';

// The tree source's configuration is checked like every other (each problem with its path), and
// `ferry agent status` shows each tree's last snapshot from the agent's last pass.

const problems = (yaml: string): string[] => {
  try {
    parseAgentConfig(yaml);
    return [];
  } catch (error) {
    return (error as ConfigError).problems;
  }
};

describe('tree source configuration', () => {
  it('takes defaults: every pass, 64 MiB packs, nothing excluded', () => {
    const config = parseAgentConfig('site: s\nstate: /tmp/x\nsources:\n  - { name: share, type: tree, path: /srv/share }\n');
    expect(config.sources[0]).toEqual({ name: 'share', type: 'tree', path: '/srv/share', exclude: [], everySeconds: 0, packTargetMiB: 64, massChange: { percent: 50, minFiles: 20 } });
  });

  it('names the path of every problem', () => {
    const yaml = `site: s
state: /tmp/x
sources:
  - { name: share, type: tree, path: "", exclude: ["../up", "/abs", "a\\\\b"], include: [], everySeconds: -1, packTargetMiB: 0, follow: true }
`;
    expect(problems(yaml)).toEqual([
      'sources[0].path: path is required',
      'sources[0].include: include cannot be empty (leave it out to keep everything)',
      `sources[0].exclude[0]: "../up" must be relative to the source's path (no leading / and no ..)`,
      `sources[0].exclude[1]: "/abs" must be relative to the source's path (no leading / and no ..)`,
      'sources[0].exclude[2]: "a\\b" contains \\; separate directories with /',
      'sources[0].everySeconds: Number must be greater than or equal to 0',
      'sources[0].packTargetMiB: Number must be greater than or equal to 1',
      'sources[0]: unknown key(s) "follow"',
    ]);
  });
});

describe('agent status with a tree source', () => {
  it("shows the tree's last snapshot after a pass", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-tree-status-'));
    const share = join(dir, 'share');
    mkdirSync(share);
    writeFileSync(join(share, 'a.txt'), 'hello');
    const configFile = join(dir, 'agent.yaml');
    const yaml = `site: site-a\nstate: ${join(dir, 'state')}\nsources:\n  - { name: meetings, type: tree, path: "${share}", everySeconds: 3600 }\n`;
    writeFileSync(configFile, yaml);
    const config = parseAgentConfig(yaml);
    const clock = new ManualClock(new Date('2026-03-01T10:00:00Z'));
    const agent = new Agent({ config, store: new MemoryBlobStore(), clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back' });
    const report = await agent.cycle();
    clock.advance(60_000);
    const again = await agent.cycle();
    agent.close();
    expect(report.manifests).toHaveLength(1);
    expect(again.manifests).toHaveLength(0); // within everySeconds
    const status = await collectStatus(configFile);
    expect(status.treeSources).toEqual([expect.objectContaining({ name: 'meetings', type: 'tree', lastSnapshot: expect.objectContaining({ takenAt: '2026-03-01T10:00:00.000Z', files: 1, bytesTotal: 5 }) })]);
    expect(renderStatus(status)).toMatch(/^meetings \(tree\)\s+last snapshot 2026-03-01T10:00:00.000Z: 1 files, 5 B \(1 read, 5 B added\)$/m);
    expect(status.artefactSources).toEqual([]);
    // A share-only site has no recordings: no backlog of batches, no recordings shipped or deleted by the recorder.
    expect(renderStatus(status)).not.toMatch(/^(backlog|oldest unshipped|shipped|lost) /m);
  });
});

describe("the agent's state directory inside a tree source", () => {
  const yaml = (state: string, share: string) => `site: s\nstate: "${state}"\nsources:\n  - { name: share, type: tree, path: "${share}", exclude: ["*.tmp"] }\n`;

  it('is left out of the snapshots by an exclude matching exactly its contents, its name taken literally', () => {
    const config = leaveStateOutOfTrees(parseAgentConfig(yaml('/srv/share/ops/ferry [1]*', '/srv/share')));
    const tree = config.sources[0] as { exclude: string[] };
    expect(tree.exclude).toEqual(['*.tmp', 'ops/ferry [[]1][*]/**']);
    const excluded = treePathMatcher(tree.exclude);
    expect(['ops/ferry [1]*/journal.jsonl', 'ops/ferry [1]*/a/b'].map(excluded)).toEqual([true, true]);
    expect(['ops/ferry 1x/journal.jsonl', 'ops/ferry [1]*x/a', 'ops/ferry [1]*', 'minutes.txt'].map(excluded)).toEqual([false, false, false, false]);
    const windows = leaveStateOutOfTrees(parseAgentConfig(yaml('D:\\\\Shares\\\\OCS\\\\Ferry', 'D:\\\\Shares\\\\OCS')), win32);
    expect((windows.sources[0] as { exclude: string[] }).exclude).toEqual(['*.tmp', 'Ferry/**']);
  });

  it('a state directory beside the tree changes nothing; a tree source that is the state directory is refused, naming it', () => {
    const beside = parseAgentConfig(yaml('/srv/ferry', '/srv/share'));
    expect(leaveStateOutOfTrees(beside)).toEqual(beside);
    expect(leaveStateOutOfTrees(parseAgentConfig(yaml('/srv/share-state', '/srv/share')))).toEqual(parseAgentConfig(yaml('/srv/share-state', '/srv/share')));
    expect(() => leaveStateOutOfTrees(parseAgentConfig(yaml('/srv/share', '/srv/share')))).toThrow("sources[0].path: /srv/share is the agent's state directory (state); a tree source cannot back it up");
  });

  it('a pass over a share holding the state directory snapshots the share and none of the state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-tree-state-'));
    const share = join(dir, 'share');
    mkdirSync(share);
    writeFileSync(join(share, 'minutes.txt'), 'kept');
    const configFile = join(dir, 'agent.yaml');
    writeFileSync(configFile, yaml(join(share, '.ferry'), share));
    const store = new MemoryBlobStore();
    const agent = new Agent({ config: loadConfig(configFile), store, clock: new ManualClock(new Date('2026-03-01T10:00:00Z')), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back' });
    try {
      const report = await agent.cycle();
      expect(report.failed).toBe(0);
      const status = await collectStatus(configFile);
      expect(status.treeSources).toEqual([expect.objectContaining({ lastSnapshot: expect.objectContaining({ files: 1, bytesTotal: 4 }) })]);
    } finally {
      agent.close();
    }
  });
});
