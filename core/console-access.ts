// The compliance console's routes and who may see which site. Pure: the console function
// (functions/console) enforces it per request, the CDK app (infra/console.ts) builds the
// Cognito groups and the API routes from the same table, and the tests iterate it.

import { decodePathSegment } from './errors.ts';

/**
 * Cognito groups: `admin` and `officer-all` see every configured site, `officer-<site>` that site
 * only; `listener-<site>` may search that site's calls and listen to them (a quality-assurance
 * lead scoring agents), nothing else: no download, hold, case, erasure, export or audit trail.
 */
export const ADMIN_GROUP = 'admin';
export const ALL_SITES_GROUP = 'officer-all';
export const SITE_GROUP_PREFIX = 'officer-';
export const LISTENER_GROUP_PREFIX = 'listener-';

/** What a caller may do at a site: everything the console offers, or search and listen only. */
export type SiteAccess = 'officer' | 'listener';

export function siteGroup(site: string): string {
  return `${SITE_GROUP_PREFIX}${site}`;
}

export function listenerGroup(site: string): string {
  return `${LISTENER_GROUP_PREFIX}${site}`;
}

/** Every group a deployment with these sites has. */
export function consoleGroups(sites: readonly string[]): string[] {
  return [ADMIN_GROUP, ALL_SITES_GROUP, ...sites.map(siteGroup), ...sites.map(listenerGroup)];
}

const seesEverySite = (groups: readonly string[]) => groups.includes(ADMIN_GROUP) || groups.includes(ALL_SITES_GROUP);

/** The sites the groups of one prefix (`officer-`, `listener-`) name. */
const namedSites = (groups: readonly string[], prefix: string) => new Set(groups.filter((g) => g.startsWith(prefix)).map((g) => g.slice(prefix.length)));

/**
 * The off-boarded sites the caller's own site groups (`officer-<site>`, `listener-<site>`) name,
 * in configuration order: what a former officer of a customer that left is told instead of "no
 * site yet". Only sites their groups name, never another customer's; none for admin and
 * officer-all, who still see them.
 */
export function closedSites(groups: readonly string[], configured: readonly string[], offboarded: readonly string[] = []): string[] {
  if (seesEverySite(groups)) return [];
  const named = new Set([...namedSites(groups, SITE_GROUP_PREFIX), ...namedSites(groups, LISTENER_GROUP_PREFIX)]);
  return configured.filter((site) => offboarded.includes(site) && named.has(site));
}

/**
 * The configured sites a member of `groups` may see, in configuration order, each with what they
 * may do there (an officer's group wins over a listener's). A group naming a site that is not
 * configured grants nothing; no group, no site. An off-boarded site (`offboarded`, its customer
 * gone, its calls kept to the end of their retention) is seen by `admin` and `officer-all` only:
 * its own `officer-<site>` and `listener-<site>` groups grant nothing any more.
 */
export function siteAccess(groups: readonly string[], configured: readonly string[], offboarded: readonly string[] = []): Map<string, SiteAccess> {
  const all = seesEverySite(groups);
  const officer = namedSites(groups, SITE_GROUP_PREFIX);
  const listener = namedSites(groups, LISTENER_GROUP_PREFIX);
  const access = new Map<string, SiteAccess>();
  for (const site of configured) {
    if (all) access.set(site, 'officer');
    else if (offboarded.includes(site)) continue;
    else if (officer.has(site)) access.set(site, 'officer');
    else if (listener.has(site)) access.set(site, 'listener');
  }
  return access;
}

/** The configured sites a member of `groups` may see (as an officer or a listener), in configuration order. */
export function sitesAllowed(groups: readonly string[], configured: readonly string[], offboarded: readonly string[] = []): string[] {
  return [...siteAccess(groups, configured, offboarded).keys()];
}

export interface ConsoleRoute {
  method: 'GET' | 'POST';
  /** API Gateway route path (`{site}`, `{rid}` are path parameters). */
  path: string;
  /** What the console function does with it. */
  /** `holds`: legal holds, cases and erasure requests, the holds function's routes (functions/holds) under `/console`. */
  /** `recall-status`: the recall status of the call's pack (not audited: the page polls it). */
  action: 'me' | 'sites' | 'search' | 'get' | 'play-link' | 'download-link' | 'recall' | 'recall-status' | 'audit' | 'holds' | 'export' | 'export-status';
  /** A listener (`listener-<site>`) may use it: finding a call, listening to it, and bringing it back from the archive tier to listen. */
  listener?: true;
}

/** Every console route; each one takes the JWT authorizer in the stack and the token check in the function. */
export const CONSOLE_ROUTES: readonly ConsoleRoute[] = [
  { method: 'GET', path: '/console/me', action: 'me', listener: true },
  { method: 'GET', path: '/console/sites', action: 'sites', listener: true },
  { method: 'GET', path: '/console/sites/{site}/recordings', action: 'search', listener: true },
  // Before `{rid}`: `count` is no recording id (API Gateway prefers the literal segment too).
  { method: 'GET', path: '/console/sites/{site}/recordings/count', action: 'search', listener: true },
  { method: 'GET', path: '/console/sites/{site}/recordings/{rid}', action: 'get', listener: true },
  { method: 'POST', path: '/console/sites/{site}/recordings/{rid}/play-link', action: 'play-link', listener: true },
  { method: 'POST', path: '/console/sites/{site}/recordings/{rid}/download-link', action: 'download-link' },
  { method: 'POST', path: '/console/sites/{site}/recordings/{rid}/recall', action: 'recall', listener: true },
  { method: 'GET', path: '/console/sites/{site}/recordings/{rid}/recall', action: 'recall-status', listener: true },
  { method: 'GET', path: '/console/sites/{site}/audit', action: 'audit' },
  { method: 'GET', path: '/console/sites/{site}/holds', action: 'holds' },
  { method: 'POST', path: '/console/sites/{site}/holds', action: 'holds' },
  { method: 'POST', path: '/console/sites/{site}/holds/release', action: 'holds' },
  { method: 'GET', path: '/console/sites/{site}/cases', action: 'holds' },
  { method: 'POST', path: '/console/sites/{site}/cases', action: 'holds' },
  { method: 'GET', path: '/console/sites/{site}/cases/{case}', action: 'holds' },
  { method: 'POST', path: '/console/sites/{site}/cases/{case}/calls', action: 'holds' },
  // A data subject's erasure request, and the site's requests (core/erasures.ts): decided by the officers who may hold the site's calls.
  { method: 'GET', path: '/console/sites/{site}/erasures', action: 'holds' },
  { method: 'POST', path: '/console/sites/{site}/erasures', action: 'holds' },
  { method: 'POST', path: '/console/sites/{site}/exports', action: 'export' },
  { method: 'GET', path: '/console/sites/{site}/exports/{exportId}', action: 'export-status' },
];

/** The route a request path matches, with its path parameters (raw, not yet validated). */
export function matchConsoleRoute(method: string, rawPath: string): { route: ConsoleRoute; params: Record<string, string> } | { allowed: string[] } | undefined {
  const path = rawPath.replace(/\/+$/, '');
  const methods: string[] = [];
  for (const route of CONSOLE_ROUTES) {
    const names: string[] = [];
    const pattern = new RegExp(`^${route.path.replace(/\{(\w+)\}/g, (_, name: string) => (names.push(name), '([^/]+)'))}$`);
    const match = pattern.exec(path);
    if (!match) continue;
    if (route.method !== method.toUpperCase()) {
      methods.push(route.method);
      continue;
    }
    const params = Object.fromEntries(names.map((name, i) => [name, decodePathSegment(match[i + 1]!, name)]));
    return { route, params };
  }
  return methods.length > 0 ? { allowed: methods } : undefined;
}

/** Longest a minted replay link lives (the deployment's replay links are SigV4 presigns). */
export const REPLAY_LINK_SECONDS = 300;
