import type { BlobStore } from '../core/ports.ts';
import { FerryError, messageOf } from '../core/errors.ts';
import { deniedByS3 } from '../adapters/s3-errors.ts';
import { localCloudFile } from './cloud.ts';

// A refusal of these credentials to read a site, said as the operator can act on it. A site's
// DR role (and its officer role) reads that site alone, so a misspelt `--site` is answered by
// the catalogue API with 403 and by S3 with AccessDenied on ListBucket: the service's words name
// an action and an ARN, never the site typed. Said here from what the CLI knows (the site asked,
// the credentials it signed with and where they came from, the endpoint), the service's own
// message kept after it. The CLI cannot list the deployment's sites with such a role: none is
// guessed.

/** Where the credentials a request is signed with came from, as the operator would look for them. */
export function credentialsInUse(used: { accessKeyId: string } | undefined, configFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (used && configFile) return `key ${used.accessKeyId} from cloud.credentials in ${configFile}`;
  if (used) return `key ${used.accessKeyId} of the local cloud (${localCloudFile(env)})`;
  // The SDK's chain takes keys in the environment before a profile.
  if (env.AWS_ACCESS_KEY_ID) return `key ${env.AWS_ACCESS_KEY_ID} from AWS_ACCESS_KEY_ID`;
  if (env.AWS_PROFILE) return `AWS_PROFILE=${env.AWS_PROFILE}`;
  return "the AWS SDK's default chain: no cloud.credentials, AWS_PROFILE or AWS_ACCESS_KEY_ID, so the default profile, SSO or this host's instance or task role";
}

/** The principal an AWS refusal names ("User: arn:… is not authorized to perform: …"), when it names one. */
export function principalNamed(said: string): string | undefined {
  return /User: (arn:\S+) is not authorized/.exec(said)?.[1];
}

export interface SiteDenial {
  site: string;
  /** The endpoint that refused, with its preposition: `through the catalogue API at URL`, `in bucket B at URL`. */
  where: string;
  /** credentialsInUse(), when known. */
  credentials?: string;
  /** The service's own answer, kept whole after the explanation. */
  said: string;
  /** What of the site was refused, when a part of it: `the audit trail of` (then `… may not read the audit trail of site S`). */
  part?: string;
  /** Which roles read which sites, for these commands; the DR and officer roles' of the restore and listing commands by default. */
  roles?: string;
  /** The `site` of the configuration in use, when one was given. */
  configuredSite?: string;
  /** The refusal is the catalogue API's (which a site's agent may not ask), not the store's. */
  api?: boolean;
}

const DR_AND_OFFICER_ROLES = "a site's DR role reads only its own site, an officer's role likewise: name the primary as the deployment spells it";

// A site's agent role (CloudFormation names it `…AgentRole…`, the local cloud `…agentrole…`)
// ships to the store (and reads its own objects back) but may not ask the catalogue API: a DBA
// who lists or plans a restore with the agent's configuration meets that, not a misspelt site,
// and is told which credentials those commands take.
const AGENT_ROLE = /agentrole/i;
const CATALOGUE_CREDENTIALS = "list and plan restores with the site's DR read role or an officer's role (e.g. AWS_PROFILE naming a profile that assumes it; docs/restore.md)";

export function siteDeniedMessage(d: SiteDenial): string {
  const principal = principalNamed(d.said);
  const who = [principal, d.credentials].filter(Boolean).join('; ');
  if (d.api && principal && AGENT_ROLE.test(principal)) {
    return `the credentials in use (${who}) are a site agent's, which ships backups and may not ask the catalogue API at all (${d.where}): ${CATALOGUE_CREDENTIALS}. ${d.said}`;
  }
  if (d.api && d.configuredSite === d.site) {
    return (
      `the credentials in use${who ? ` (${who})` : ''} may not read site ${d.site} ${d.where}, the site this configuration is for: ` +
      `if they are its agent's, an agent ships backups and may not ask the catalogue API; ${CATALOGUE_CREDENTIALS}. ${d.said}`
    );
  }
  return (
    `the credentials in use${who ? ` (${who})` : ''} may not read ${d.part ? `${d.part} ` : ''}site ${d.site} ${d.where}: ` +
    `check --site (${d.roles ?? DR_AND_OFFICER_ROLES}), ` +
    `then that these are the credentials meant for site ${d.site}. ${d.said}`
  );
}

/** A 403 an HTTP API gives for the signature itself (bad key, clock, token), not for what the principal may do. */
export function signatureRefused(errorType: string | null, message: string): boolean {
  return /Signature|MissingAuthenticationToken|UnrecognizedClient|InvalidClientTokenId|ExpiredToken/i.test(errorType ?? '') || /signature|security token|authentication token|expired/i.test(message);
}

/** The site a catalogue API path names (`/sites/{site}/…`), undefined for any other path. */
export function siteOfPath(pathAndQuery: string): string | undefined {
  const raw = /^\/sites\/([^/?]+)/.exec(pathAndQuery)?.[1];
  return raw === undefined ? undefined : decodeURIComponent(raw);
}

type SiteReader = Pick<BlobStore, 'get' | 'head' | 'list'>;

/**
 * The store's reads for one site: S3's own refusal (403 AccessDenied, no KMS key's) of a read
 * or a listing becomes siteDeniedMessage, the translated S3 error as its cause and in its text.
 * A read that S3BlobStore takes as absent (readsWithoutList) stays absent.
 */
export function siteReads<S extends SiteReader>(store: S, denial: Omit<SiteDenial, 'said'>): SiteReader {
  const explained = (error: unknown) => (deniedByS3(error) ? new FerryError('fatal', siteDeniedMessage({ ...denial, said: messageOf(error) }), { cause: error }) : error);
  return {
    get: (key, range) => store.get(key, range).catch((error: unknown) => Promise.reject(explained(error))),
    head: (key) => store.head(key).catch((error: unknown) => Promise.reject(explained(error))),
    async *list(prefix, options) {
      try {
        yield* store.list(prefix, options);
      } catch (error) {
        throw explained(error);
      }
    },
  };
}
