import { describe, it, expect } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { pathOfProblem, problemLines } from '../../core/config-lines.ts';

const text = `site: london-cc
state: /var/lib/ferry
shipping:
  packConcurency: 4
  attempts: "five"
sources:
  - name: contactstore
    type: recordings
    path: /mnt/rec
  - { name: second, type: recordings, path: /mnt/rec2, quietSeconds: 10m }
  - name: third
    type: rotated
    profile: generic
`;

function problemsOf(yaml: string): string[] {
  try {
    parseAgentConfig(yaml);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe('the line of a configuration problem', () => {
  it('reads a problem path such as sources[1].quietSeconds', () => {
    expect(pathOfProblem('sources[1].quietSeconds: Expected number')).toEqual(['sources', 1, 'quietSeconds']);
    expect(pathOfProblem('(root): bad')).toBeUndefined();
  });

  it("gives each schema problem the line of the setting it names: a wrong type at its key, an unknown key at that key, a missing one at its source's first line", () => {
    const problems = problemsOf(text);
    const lines = problemLines(text, problems);
    const at = (start: string) => lines[problems.findIndex((p) => p.startsWith(start))];
    expect(at('shipping.attempts:')).toBe(5);
    expect(at('shipping: unknown key(s) "packConcurency"')).toBe(4);
    expect(at('sources[1].quietSeconds:')).toBe(10);
    expect(at('sources[2]')).toBe(11);
  });

  it('gives no line to a problem that names no setting, or to text that is not YAML', () => {
    expect(problemLines(text, ['cloud: the store does not answer', 'something else'])).toEqual([undefined, undefined]);
    expect(problemLines('site: [unclosed', ['site: bad'])).toEqual([undefined]);
  });

  it('shows the line after each problem in the message, the problems themselves unchanged', () => {
    const error = new ConfigError(['sources[1].quietSeconds: Expected number, received string', 'cloud: x'], '/etc/ferry/agent.yaml', [10, undefined]);
    expect(error.message).toBe('invalid configuration in /etc/ferry/agent.yaml:\n  sources[1].quietSeconds: Expected number, received string (line 10)\n  cloud: x');
    expect(error.problems[0]).toBe('sources[1].quietSeconds: Expected number, received string');
  });
});
