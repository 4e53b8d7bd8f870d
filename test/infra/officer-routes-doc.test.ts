import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import { logicalId, synthFerry } from './fixture.ts';

// A security administrator signs off what a site's officer role may do from docs/deploy.md §6
// ("Each site has an officer role …"). Every route its synthesized policy lets it invoke must be
// named there with its method, and nothing the role may not call: read from the template `cdk
// synth` produces, not from the code that builds it. The same section's policy for an officer
// who may hear every site is evaluated as written.

const DOC = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');

/** The officer paragraph's routes, as `METHOD sites/{site}/…` (`GET`/`POST sites/{site}/holds` names both methods). */
function documentedRoutes(): string[] {
  const paragraph = DOC.slice(DOC.indexOf('Each site has an **officer role**'), DOC.indexOf('Who may assume it:'));
  const routes: string[] = [];
  for (const m of paragraph.matchAll(/`((?:GET|POST)(?:`\/`(?:GET|POST))*) (sites\/\{site\}\/[^`]+)`/g)) {
    for (const method of m[1]!.split('`/`')) routes.push(`${method} ${m[2]}`);
  }
  return routes.sort();
}

/** The API routes the role's policies allow execute-api:Invoke on, with `{site}` for the site. */
function invokableRoutes(policies: PolicyDocument[], site: string): string[] {
  const resources = policies
    .flatMap((p) => p.Statement)
    .filter((s) => s.Effect === 'Allow' && ([] as string[]).concat(s.Action ?? []).includes('execute-api:Invoke'))
    .flatMap((s) => ([] as string[]).concat(s.Resource ?? []));
  return resources.map((arn) => /\/\$default\/(GET|POST)\/(.*)$/.exec(arn)!).map(([, method, path]) => `${method} ${path!.replace(`sites/${site}/`, 'sites/{site}/')}`).sort();
}

describe("docs/deploy.md's officer role", () => {
  let synthesized: string[];
  beforeAll(() => {
    const synth = synthFerry();
    const site = synth.processing.sites.find((s) => s.site === 'site-a')!;
    synthesized = invokableRoutes(synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(site.officerRole)), 'site-a');
  });

  it('names every route the synthesized officer role may invoke, with its method, and no other', () => {
    expect(synthesized.length).toBeGreaterThan(5);
    expect(documentedRoutes()).toEqual(synthesized);
  });
});

/** The JSON policy docs/deploy.md gives an officer who may hear every site, its placeholders filled. */
function everySiteOfficerPolicy(): PolicyDocument {
  const from = DOC.indexOf('An officer who may hear every site');
  const block = /```json\n([\s\S]*?)```/.exec(DOC.slice(from))![1]!;
  return JSON.parse(block.replaceAll('<api-id>', 'api1').replaceAll('<replay-function-name>', 'replay')) as PolicyDocument;
}

describe("docs/deploy.md's policy for an officer who may hear every site", () => {
  const route = (method: string, path: string) => `arn:aws:execute-api:eu-west-2:111122223333:api1/$default/${method}${path}`;
  const allows = (method: string, path: string) =>
    isAllowed([everySiteOfficerPolicy()], { action: 'execute-api:Invoke', resource: route(method, path), context: {}, principal: { type: 'AWS', id: 'arn:aws:iam::111122223333:role/officer-all' } });

  it("searches, reads and recalls any site's recordings", () => {
    for (const [method, path] of [['GET', '/sites/london-cc/recordings'], ['GET', '/sites/leeds/recordings/r0123'], ['GET', '/sites/leeds/recordings/r0123/recall'], ['POST', '/sites/leeds/recordings/r0123/recall']] as const) {
      expect(allows(method, path), `${method} ${path}`).toBe(true);
    }
  });

  it("places no hold, requests no erasure and reads no site's backups", () => {
    for (const [method, path] of [['POST', '/sites/leeds/erasures'], ['POST', '/sites/leeds/holds'], ['POST', '/sites/leeds/holds/release'], ['POST', '/sites/leeds/cases'], ['GET', '/sites/leeds/artefacts'], ['GET', '/sites/leeds/sources/db/restore-plan']] as const) {
      expect(allows(method, path), `${method} ${path}`).toBe(false);
    }
  });
});
