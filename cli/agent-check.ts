import { lowStateSpaceAlert, freeBytes } from '../agent/state/state-space.ts';
import type { AgentConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { checkSitePaths, inConfigFile, loadConfig, storeProblem } from './build-agent.ts';
import { alertCommandProblem, networkNotes, plainHttpNotes, selectionNotes, targetNote, unconfiguredNotes, unlistedTypeNotes } from './check-notes.ts';
import { emptyRootNotes } from './empty-root-notes.ts';

// `ferry agent check`: every problem (exit 2) and every warning of a configuration in one run, so
// that an installer fixes them in one round: the warnings are said (on stdout) whether or not the
// paths and the store pass, then the problems (on stderr, with their lines in the file). Only a
// file that does not parse has no warnings said: they are judged on its settings.

/** The problems a check threw as a ConfigError, or none; any other error is thrown on. */
async function problemsOf(check: () => Promise<unknown>): Promise<string[]> {
  try {
    await check();
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

/** The warnings and notes of a configuration whose settings parse, each as the line printed. */
async function warnings(config: AgentConfig, failing: boolean, lockNotes: string[]): Promise<string[]> {
  // A note that cannot be judged because of a problem already said (a state directory that cannot
  // be read, a source path that is not there) is left out; with no problem, its failure is the check's.
  const judged = async (note: () => Promise<string[]> | string[]): Promise<string[]> => {
    try {
      return await note();
    } catch (error) {
      if (failing) return [];
      throw error;
    }
  };
  const low = async () => {
    const alert = lowStateSpaceAlert(config.site, config.state, await freeBytes(config.state), config.stateMinFreeMiB);
    return alert ? [`warning: ${alert.message}`] : [];
  };
  const target = () => [targetNote(config)].flatMap((note) => (note ? [`warning: ${note}`] : []));
  const hook = () => [alertCommandProblem(config.alerts.command)].flatMap((problem) => (problem ? [`warning: alerts.command: ${problem}`] : []));
  const notes = [() => selectionNotes(config), () => lockNotes, () => emptyRootNotes(config), () => unlistedTypeNotes(config), () => plainHttpNotes(config), low, target, hook, () => unconfiguredNotes(config)];
  const out: string[] = [];
  for (const note of notes) out.push(...(await judged(note)));
  return out;
}

/** `agent check`: the configuration, the paths it names and the store, said line by line; exit 2 when any problem is found. */
export async function checkCommand(opts: { config: string }): Promise<void> {
  const config = loadConfig(opts.config);
  // No sources: a standby site's configuration, for the restore, snapshots and backups commands.
  const standby = config.sources.length === 0;
  const problems = await problemsOf(() => checkSitePaths(config, { standby }));
  // The network the check goes through (a proxy, a CA) is said first: it is half of what a failing store check means.
  for (const note of networkNotes(process.env)) process.stdout.write(`${note}\n`);
  // The store: an endpoint or a key that is wrong shows here, not at the first run.
  const lockNotes: string[] = [];
  const store = await storeProblem(config, process.env, { standby, notes: lockNotes });
  if (store !== undefined && store !== 'not checked') problems.push(`cloud: ${store}`);
  if (problems.length === 0 && standby) process.stdout.write(`configuration ${opts.config} is valid for the restore, snapshots and backups commands of site ${config.site} (no sources: a standby site; the agent itself does not run it), state in ${config.state}\n`);
  else if (problems.length === 0) process.stdout.write(`configuration ${opts.config} is valid: site ${config.site}, ${config.sources.length} source(s), state in ${config.state}\n`);
  const credentials = standby ? "lists the site's manifests with these credentials" : "takes this agent's credentials";
  if (store === 'not checked') process.stdout.write('store: not checked (no cloud configured and no local cloud running)\n');
  else if (store === undefined) process.stdout.write(`store: it answers and ${credentials}\n`);
  for (const line of await warnings(config, problems.length > 0, lockNotes)) process.stdout.write(`${line}\n`);
  if (problems.length > 0) inConfigFile(opts.config, undefined, () => { throw new ConfigError(problems); });
}
