import { describe, it, expect } from 'vitest';
import { parseAgentConfig } from '../../core/config.ts';
import { ConfigError } from '../../core/errors.ts';

const good = `
site: site-a
state: ./state
sources:
  - name: contactstore
    type: recordings
    path: /var/recordings
`;

function problems(text: string): string[] {
  try {
    parseAgentConfig(text);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('agent config', () => {
  it('fills defaults', () => {
    const c = parseAgentConfig(good);
    expect(c.shipping).toMatchObject({ partSizeMiB: 8, packConcurrency: 4, attempts: 5 });
    expect(c.sources[0]).toMatchObject({ closeAfterFiles: 100, quietSeconds: 600, batchDepth: 1 });
  });

  it.each([
    ['site: Site A', 'site: site must be'],
    ['state: ""', 'state: state directory is required'],
    ['shipping: { partSizeMiB: 1 }', 'shipping.partSizeMiB: S3 parts are at least 5 MiB'],
    ['shipping: { packConcurrency: 0 }', 'shipping.packConcurrency:'],
    ['shipping: { bogus: 1 }', 'shipping: unknown key(s) "bogus"'],
    ['cloud: { bucket: "UPPER" }', 'cloud.bucket: bucket must be a valid S3 bucket name'],
    ['cloud: { bucket: ferry-data, endpoint: "not a url" }', 'cloud.endpoint:'],
    ['cloud: { bucket: ferry-data, verify: maybe }', 'cloud.verify:'],
    ['alerts: { webhook: nope }', 'alerts.webhook:'],
    ['cloud: { bucket: ferry-data, activity: { arn: "arn:aws:sqs:eu-west-1:123456789012:q" } }', 'cloud.activity.arn: must be an activity ARN'],
  ])('%s → %s', (line, expected) => {
    const key = line.split(':')[0] as string;
    const text = good.split('\n').filter((l) => !l.startsWith(`${key}:`) && !(key === 'sources' && l.startsWith(' '))).join('\n') + `\n${line}\n`;
    expect(problems(text).join('\n')).toContain(expected);
  });

  it('says which key an unknown one is a slip for, from the keys allowed where it stands (a source\'s by its type), and offers none for a key near nothing', () => {
    const text = [
      'site: site-a',
      'state: /var/lib/ferry',
      'shiping: { partSizeMiB: 8 }',
      'cloud: { bucket: ferry-data, Endpoint: "http://127.0.0.1:9000" }',
      'sources:',
      '  - { name: cs, type: recordings, path: /rec, closeAfterFile: 5 }',
      '  - { name: db, type: rotated, path: /bak, patterns: ["*.bak"], stableSecnods: 60, colour: blue }',
    ].join('\n');
    expect(problems(text)).toEqual([
      'cloud: unknown key(s) "Endpoint" (did you mean "endpoint"?)',
      'sources[0]: unknown key(s) "closeAfterFile" (did you mean "closeAfterFiles"?)',
      'sources[1]: unknown key(s) "stableSecnods" (did you mean "stableSeconds"?), "colour"',
      '(root): unknown key(s) "shiping" (did you mean "shipping"?)',
    ]);
  });

  it('accepts the site activity the agent polls for backup windows', () => {
    const c = parseAgentConfig(`${good}cloud: { bucket: ferry-data, activity: { arn: "arn:aws:states:eu-west-2:123456789012:activity:ferry-site-a" } }\n`);
    expect(c.cloud?.activity?.arn).toBe('arn:aws:states:eu-west-2:123456789012:activity:ferry-site-a');
    // The output's ARN written as the value, as deploy.md shows it, is the same.
    const short = parseAgentConfig(`${good}cloud: { bucket: ferry-data, activity: "arn:aws:states:eu-west-2:123456789012:activity:ferry-site-a" }\n`);
    expect(short.cloud?.activity).toEqual({ arn: 'arn:aws:states:eu-west-2:123456789012:activity:ferry-site-a' });
  });

  it('lists every problem of every source with its path', () => {
    const text = `
site: s
state: st
sources:
  - name: a
    type: recordings
    path: /x
  - name: a
    type: recordings
    path: ""
    closeAfterFiles: -1
    extensions: [wav]
  - name: b
    type: tape
`;
    const p = problems(text);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringContaining('sources[1].path: path is required'),
        expect.stringContaining('sources[1].closeAfterFiles:'),
        expect.stringContaining('sources[1].extensions[0]: extensions look like ".wav"'),
        expect.stringContaining('sources[2].type: must be one of recordings'),
      ]),
    );
  });

  it('refuses two recordings sources on one root whose extensions overlap (every recording would ship twice), not ones that part the files by extension, nor two tree or backup sources on one path', () => {
    expect(problems(`${good}  - name: cs2\n    type: recordings\n    path: /var/recordings\n`)).toEqual([
      'sources[1].path: source contactstore already ships the .wav, .mp3, .ogg, .opus, .gsm recordings under /var/recordings: give the two sources extensions of their own',
    ]);
    // As an earlier release ran it: one source for the .wav calls, one for the .MP3 ones.
    const parted = `site: site-a\nstate: ./state\nsources:\n  - { name: calls-wav, type: recordings, path: /var/rec, extensions: [".wav"] }\n  - { name: calls-mp3, type: recordings, path: /var/rec, extensions: [".MP3"] }\n`;
    expect(parseAgentConfig(parted).sources).toHaveLength(2);
    expect(problems(parted.replace('[".MP3"]', '[".mp3", ".WAV"]'))).toEqual(['sources[1].path: source calls-wav already ships the .wav recordings under /var/rec: give the two sources extensions of their own']);
    expect(parseAgentConfig(`${good}  - { name: t1, type: tree, path: /srv/share, include: ["a/**"] }\n  - { name: t2, type: tree, path: /srv/share, include: ["b/**"] }\n`).sources).toHaveLength(3);
  });

  it('says what a number written with a unit is in the unit of its key (seconds, hours, MiB)', () => {
    const text = 'site: a\nstate: /x\nalerts: { repeatHours: 1d }\nshipping: { partSizeMiB: 16MB }\nsources:\n  - { name: cs, type: recordings, path: /r, quietSeconds: 10m, settleSeconds: five }\n';
    expect(problems(text)).toEqual([
      'shipping.partSizeMiB: Expected number, received string: "16MB" is written as a plain number of MiB (partSizeMiB: 16)',
      'alerts.repeatHours: Expected number, received string: "1d" is written as a plain number of hours (repeatHours: 24)',
      'sources[0].quietSeconds: Expected number, received string: "10m" is written as a plain number of seconds (quietSeconds: 600)',
      'sources[0].settleSeconds: Expected number, received string ("five": write a plain number of seconds)',
    ]);
  });

  it('lists a duplicate source name with the problems of another source, not only once they are mended', () => {
    const text = `${good}  - name: contactstore\n    type: recordings\n    path: /y\n    quietSeconds: 10m\n`;
    expect(problems(text)).toEqual(['sources[1].quietSeconds: Expected number, received string: "10m" is written as a plain number of seconds (quietSeconds: 600)', 'sources[1].name: duplicate source name "contactstore"']);
  });

  it('reports duplicate source names and bad YAML', () => {
    expect(problems(`${good}  - name: contactstore\n    type: recordings\n    path: /y\n`).join()).toContain('sources[1].name: duplicate source name "contactstore"');
    expect(problems('site: [unclosed').join()).toMatch(/not valid YAML at line 1/);
    expect(problems('- a\n- b').join()).toMatch(/expected a mapping at the top level/);
  });

  it('shows a YAML mistake where it is, with the lines around it, a caret and what the complaint usually means', () => {
    const misIndented = 'site: x\nsources:\n  - name: recs\n    type: recordings\n     path: /tmp\n';
    expect(problems(misIndented)).toEqual([
      [
        'config: not valid YAML at line 4, column 11: Nested mappings are not allowed in compact mappings (a key on the line after is indented further than the keys beside it)',
        '    3 |   - name: recs',
        '    4 |     type: recordings',
        '      |           ^',
        '    5 |      path: /tmp',
      ].join('\n'),
    ]);
    const tabbed = problems('site: x\nsources:\n\t- name: recs\n').join();
    expect(tabbed).toContain('not valid YAML at line 3, column 1: Tabs are not allowed as indentation (indent with spaces, not tabs)');
    expect(tabbed).toContain('    3 | →- name: recs');
    expect(tabbed).not.toMatch(/:\n?$/);
    expect(problems('site: x\nsources:\n  - name: "recs\n    type: recordings\n').join()).toContain('(a value opened with a quote above is never closed)');
  });
});
