import type { Browser, Page } from 'playwright-core';
import type { LocalCloud } from '../../local/cloud.ts';

// The console in Chromium as its browser tests open it: a tab of its own (London time, en-GB),
// signed in as the local cloud's demo officer at an address, the page's errors collected.

/** The console's address on the local cloud, at `hash` (localhost: the page's origin as served). */
export function consoleUrl(cloud: LocalCloud, hash = ''): string {
  return `${cloud.console.pageUrl.replace('127.0.0.1', 'localhost')}${hash}`;
}

export interface SignedInOptions {
  /** Where the page's uncaught errors (and, with `consoleErrors`, its console errors other than a 4xx answer) go. */
  pageErrors: string[];
  consoleErrors?: boolean;
  /** Called with each request the page sends, before sign-in too. */
  onRequest?: (method: string, url: URL) => void;
  /** The tab's time zone (default Europe/London). */
  timezoneId?: string;
  /** Who signs in (default the local cloud's demo officer). */
  user?: { username: string; password: string };
  /** Called with the tab before it opens the console (routes installed here see the first requests). */
  beforeLoad?: (p: Page) => Promise<unknown>;
}

/** A tab of its own, signed in as the demo officer (or `o.user`), at `hash`; `close` ends its context. */
export async function signedInConsolePage(browser: Browser, cloud: LocalCloud, hash: string, o: SignedInOptions): Promise<{ p: Page; close: () => Promise<void> }> {
  const c = await browser.newContext({ timezoneId: o.timezoneId ?? 'Europe/London', locale: 'en-GB', viewport: { width: 1280, height: 900 } });
  const p = await c.newPage();
  p.setDefaultTimeout(15_000);
  p.on('pageerror', (e) => o.pageErrors.push(e.message));
  if (o.consoleErrors) p.on('console', (m) => void (m.type() === 'error' && !/status of 4\d\d/.test(m.text()) && o.pageErrors.push(m.text())));
  if (o.onRequest) p.on('request', (r) => o.onRequest!(r.method(), new URL(r.url())));
  await o.beforeLoad?.(p);
  await p.goto(consoleUrl(cloud, hash));
  await p.waitForSelector('#signin-view:not([hidden])');
  const user = o.user ?? cloud.console.demo;
  await p.fill('#username', user.username);
  await p.fill('#password', user.password);
  await p.keyboard.press('Enter');
  await p.waitForFunction(() => (document.getElementById('signin-view') as HTMLElement).hidden);
  return { p, close: () => c.close() };
}
