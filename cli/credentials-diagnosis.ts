import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';

// Why the AWS SDK found no credentials. Its default chain swallows each provider's own error
// and says "Could not load credentials from any providers" whatever the cause: a misspelt
// AWS_PROFILE, a credential_process (the Roles Anywhere helper) that failed, keys missing for
// the user the agent runs as. Asked only once a request has failed for want of credentials.

/** The sections of an AWS shared config or credentials file, by name (`profile x` and `x` alike), as key → value. */
function iniSections(path: string): Map<string, Map<string, string>> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const pair = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (pair && current) current.set(pair[1]!.toLowerCase(), pair[2]!);
  }
  return sections;
}

/** What is wrong with a profile's credential_process, run as the SDK runs it; undefined when it gives usable credentials. */
function credentialProcessProblem(profile: string, command: string, env: NodeJS.ProcessEnv, run: typeof spawnSync): string | undefined {
  const done = run('sh', ['-c', command], { encoding: 'utf8', timeout: 30_000, env });
  const said = String(done.stderr ?? '').trim().split('\n').filter(Boolean).at(-1);
  if (done.error) return `the credential_process of profile ${profile} could not run (${done.error.message})`;
  if (done.status !== 0) return `the credential_process of profile ${profile} failed (exit ${done.status})${said ? `: ${said}` : ''}`;
  try {
    const out = JSON.parse(String(done.stdout)) as { AccessKeyId?: string; Expiration?: string };
    if (!out.AccessKeyId) return `the credential_process of profile ${profile} printed no AccessKeyId`;
    if (out.Expiration && Date.parse(out.Expiration) <= Date.now()) return `the credential_process of profile ${profile} printed credentials that expired at ${out.Expiration}`;
  } catch {
    return `the credential_process of profile ${profile} printed something that is not JSON`;
  }
  return undefined;
}

/** One sentence naming why no credentials could be had, from the environment and the AWS files; undefined when nothing more is known. */
export function explainMissingCredentials(env: NodeJS.ProcessEnv = process.env, run = spawnSync): string | undefined {
  if (env.AWS_ACCESS_KEY_ID && !env.AWS_SECRET_ACCESS_KEY) return 'AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY';
  const home = env.HOME ?? homedir();
  const configFile = env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config');
  const credentialsFile = env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials');
  const profile = env.AWS_PROFILE ?? 'default';
  const config = iniSections(configFile)?.get(profile);
  const keys = iniSections(credentialsFile)?.get(profile);
  if (!config && !keys) {
    const where = `${configFile} or ${credentialsFile}`;
    return env.AWS_PROFILE
      ? `AWS_PROFILE=${profile}: no such profile in ${where}`
      : `no cloud.credentials in the configuration, no AWS_* keys in the environment and no default profile in ${where} (the agent runs as ${userInfo().username}; set AWS_PROFILE, or give it keys)`;
  }
  const command = config?.get('credential_process') ?? keys?.get('credential_process');
  if (command) return credentialProcessProblem(profile, command, env, run);
  if (config?.get('role_arn')) return `profile ${profile} assumes ${config.get('role_arn')} from ${config.get('source_profile') ? `profile ${config.get('source_profile')}` : config.get('credential_source') ?? 'no source_profile'}: check that profile's keys`;
  if (keys && !(keys.get('aws_access_key_id') && keys.get('aws_secret_access_key'))) return `profile ${profile} in ${credentialsFile} lacks aws_access_key_id or aws_secret_access_key`;
  return undefined;
}

/**
 * Where the agent's credentials come from when the configuration gives none, as the operator who
 * rotates the key edits it: the environment's keys, or a profile of the credentials file (the
 * source profile of one that assumes a role).
 */
export function credentialsSource(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AWS_ACCESS_KEY_ID) return "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the agent's environment";
  const home = env.HOME ?? homedir();
  const configFile = env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config');
  const credentialsFile = env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials');
  const profile = env.AWS_PROFILE ?? 'default';
  const named = env.AWS_PROFILE ? ` (AWS_PROFILE)` : '';
  const source = iniSections(configFile)?.get(profile)?.get('source_profile');
  if (source) return `profile ${source} in ${credentialsFile} (the source of profile ${profile}${named})`;
  return `profile ${profile}${named} in ${credentialsFile}`;
}
