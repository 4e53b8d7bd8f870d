// The catalogue API's routes, declared once: the CDK app builds the HTTP API from them
// (infra/catalogue-api.ts) and the local stand-in serves the same routes (local/api-server.ts).
// Paths are in API Gateway's syntax: `{name}` is one path segment, given to the function as a
// path parameter of that name.

/** Every route of the API and the function behind it (functions/catalogue, functions/artefacts). */
export const API_ROUTES = {
  '/sites/{site}/recordings': 'catalogue',
  '/sites/{site}/recordings/{rid}': 'catalogue',
  // The recall status of the recording's pack (the POST of the same path starts a recall).
  '/sites/{site}/recordings/{rid}/recall': 'catalogue',
  '/sites/{site}/snapshots': 'catalogue',
  '/sites/{site}/audit': 'catalogue',
  '/sites/{site}/artefacts': 'artefacts',
  '/sites/{site}/sources/{source}/restore-plan': 'artefacts',
  '/fleet': 'fleet',
  '/sites/{site}/holds': 'holds',
  '/sites/{site}/cases': 'holds',
  '/sites/{site}/cases/{case}': 'holds',
  // Erasure requests (functions/holds): every one of the site, pending and done.
  '/sites/{site}/erasures': 'holds',
} as const;

/** Routes that change something, by method: the recall starts the recall workflow (functions/catalogue). */
export const API_POST_ROUTES = {
  '/sites/{site}/recordings/{rid}/recall': 'catalogue',
  // Legal hold (functions/holds): place, release, cases.
  '/sites/{site}/holds': 'holds',
  '/sites/{site}/holds/release': 'holds',
  '/sites/{site}/cases': 'holds',
  '/sites/{site}/cases/{case}/calls': 'holds',
  // A data subject's erasure request (functions/holds; carried out by the purge).
  '/sites/{site}/erasures': 'holds',
} as const;

/** The functions behind the API's routes. */
export type ApiFunction = (typeof API_ROUTES)[keyof typeof API_ROUTES] | (typeof API_POST_ROUTES)[keyof typeof API_POST_ROUTES];

/** The recall route (POST): the local stand-in answers 501 on it where no recall workflow runs. */
export const RECALL_ROUTE = '/sites/{site}/recordings/{rid}/recall' satisfies keyof typeof API_POST_ROUTES;
