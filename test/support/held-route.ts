import type { Page, Request } from 'playwright-core';

// An answer held back (a slow network, an officer on a phone over 3G): the requests of a page that
// `matches` are kept waiting until `release`, so that a test decides what the page does meanwhile.

export interface HeldRoute {
  /** Resolves once the first matching request was sent. */
  asked: Promise<void>;
  /** Lets every matching request through (those held and those to come). */
  release: () => void;
  /** How many matching requests the page sent. */
  count: () => number;
}

/** Holds the page's requests for which `matches(url, method, request)` is true until `release`. */
export async function holdRoute(p: Page, matches: (url: URL, method: string, request: Request) => boolean): Promise<HeldRoute> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let reached!: () => void;
  const asked = new Promise<void>((resolve) => (reached = resolve));
  let n = 0;
  await p.route(
    () => true,
    async (route) => {
      const request = route.request();
      if (!matches(new URL(request.url()), request.method(), request)) return route.fallback();
      n += 1;
      reached();
      await released;
      await route.continue().catch(() => undefined); // the tab may be closed meanwhile
    },
  );
  return { asked, release, count: () => n };
}

/** Lets the page handle what it was answered (its next turns): `ms` of its own clock. */
export const settle = (p: Page, ms = 300) => p.evaluate((wait) => new Promise((resolve) => setTimeout(resolve, wait)), ms);
