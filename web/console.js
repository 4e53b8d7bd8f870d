// The compliance console: sign in (Cognito), pick one of the sites the officer's groups allow,
// search calls, open one (record, SHA-256, play, download, recall, holds, erasure), cases and
// exports, the erasure requests and the audit trail. Plain browser JavaScript modules, no build step, no inline script or
// style (the deployment's CSP is `default-src 'self'`). Where the page is, is in the address
// (`#site=…&view=search|call|cases|erasures|audit&rid=…&case=…&status=…`, the last the Erasures view's) with the search's filters that name no one
// (`from`/`to` in UTC, direction, durations, order, page size), so bookmarks work; the whole search
// (agent, number, call id too) is kept in the tab's sessionStorage under the history entry's random
// id, the entry holding only that id and this sign-in's owner id, so Back and a reload work for the
// officer who searched and for no one after them, and Sign out removes every search kept.
// `?poll=N` sets how often (seconds) recall and export states are polled (default 15).

import { api, currentSession, forgetHistoryOwner, forgetSession, historyOwner, keepRoute, keptRoute, loadConfig, randomId, refusalText, SignedOutError } from './console-api.js';
import { openCall } from './console-call.js';
import { forgetCases, openCases } from './console-cases.js';
import { stopExpiryWatch, watchExpiry, wireSignIn } from './console-signin.js';
import { forgetSearch, openSearch, reshowResults, searchKey, searchRoute, shownFilters, showEmptySearch, wireSearch } from './console-search.js';
import { forgetAudit, openAudit } from './console-audit.js';
import { forgetErasures, openErasures } from './console-erasures.js';
import { $, clearError, el, focusOn, markScrollingFrames, notify, showError } from './console-ui.js';
import { wireZone } from './console-zone.js';

const VIEWS = ['signin', 'newpw', 'search', 'call', 'cases', 'erasures', 'audit'];

const state = {
  /** Sign-outs so far: an answer to a request asked before one is the signed-out officer's (ctx.signOuts). */
  signOuts: 0,
  config: undefined,
  sites: [],
  /** What the officer may do at each of their sites: 'officer' (everything) or 'listener' (search and listen only). */
  access: {},
  /** The off-boarded sites the officer's own groups name (none but theirs): said instead of "no site yet". */
  closed: [],
  /** The id this sign-in stamps the tab's history entries with (historyOwner). */
  owner: undefined,
  /** The entry shown: { site, view, rid?, case?, …the search's filters }. */
  route: undefined,
};

/**
 * Filters that can name a person: they are kept in the tab's sessionStorage (keepRoute), never in
 * the address, which the browser keeps on disk (History) and offers back in the address bar to
 * whoever types there next, nor in the history entry's state, which Chromium writes to disk too
 * (the session-restore file); an address is never read for them either.
 */
const PERSONAL = ['agent', 'number', 'callId'];

/**
 * How the entry shown was reached: `new` (a link, a bookmark, an address typed, the page's own
 * navigation) or `traverse` (Back, Forward, a reload). An entry with no owner is read from its
 * address only when it is new: one reached by Back is not the officer's asking.
 */
let arrival = ['reload', 'back_forward'].includes(performance.getEntriesByType('navigation')[0]?.type) ? 'traverse' : 'new';

const pollSeconds = () => Math.max(1, Number(new URLSearchParams(location.search).get('poll')) || 15);

/** What the address asks for, without the filters that can name a person. */
function addressRoute() {
  const wanted = Object.fromEntries(new URLSearchParams(location.hash.replace(/^#/, '')));
  for (const name of PERSONAL) delete wanted[name];
  return wanted;
}

/** The address of a route: everything but the filters that can name a person. */
function hashOf(r) {
  return `#${new URLSearchParams(Object.entries(r).filter(([name, value]) => value && !PERSONAL.includes(name)))}`;
}

/**
 * A history entry for `r`, stamped with this sign-in's owner id and an entry id of its own, `r`
 * itself kept under that id (keepRoute); `waiting`: an empty search form, nothing run. An entry of
 * this sign-in that is replaced keeps its id: it is the same entry.
 */
function writeEntry(r, { replace = false, waiting = false } = {}) {
  const current = history.state;
  const id = replace && current?.owner && current.owner === state.owner && typeof current.id === 'string' ? current.id : randomId();
  keepRoute(id, state.owner, r);
  const entry = { owner: state.owner, id, ...(waiting ? { waiting } : {}) };
  history[replace ? 'replaceState' : 'pushState'](entry, '', `${location.pathname}${location.search}${hashOf(r)}`);
}

/** The route of the entry shown when it is this sign-in's and its route is still kept; else undefined. */
function ownRoute() {
  const entry = history.state;
  return entry?.owner && entry.owner === state.owner && typeof entry.id === 'string' ? keptRoute(entry.id, state.owner) : undefined;
}

/** Whether the entry shown is this sign-in's `r`, searched (not an empty form waiting). */
function showing(r) {
  const route = ownRoute();
  return Boolean(route) && !history.state.waiting && searchKey(route) === searchKey(r) && route.site === r.site && route.view === r.view;
}

/**
 * A search run (console-search.js): its route becomes the entry shown, a new one, or the shown one
 * replaced (`replace`, or the empty form's); none is written when the entry shown is that search
 * already. Neither pushState nor replaceState fires popstate: nothing runs twice.
 */
function recordSearch(next, { replace }) {
  if (!showing(next)) writeEntry(next, { replace: replace || Boolean(history.state?.waiting) });
  state.route = next;
}

/** A new entry of the tab's history, shown at once (pushState fires no popstate). */
function navigate(params) {
  const next = { site: currentSite(), ...params };
  for (const [k, v] of Object.entries(next)) if (!v) delete next[k];
  writeEntry(next);
  return render();
}

/**
 * The entry shown, changed in place: a view's own state (the Erasures view's Status) in its
 * address and kept route, no new history entry, nothing shown again. An empty value is dropped.
 */
function keep(params) {
  const next = { ...state.route, ...params };
  for (const [k, v] of Object.entries(next)) if (!v) delete next[k];
  writeEntry(next, { replace: true });
  state.route = next;
}

function currentSite() {
  return state.route?.site ?? $('site').value ?? '';
}

/**
 * The entry to show: this sign-in's own (its search whole), a new one from its address, or — an
 * entry another sign-in wrote (the officer before at this desk), one whose route is no longer kept
 * (Sign out removed it), or one without owner reached by Back or a reload — an empty search form
 * of the officer's site, nothing run or opened in their name.
 */
function entryToShow() {
  const entry = history.state;
  const own = ownRoute();
  if (own) return { r: { ...own }, waiting: Boolean(entry.waiting) };
  if (!entry?.owner && arrival === 'new') return { r: addressRoute(), waiting: false };
  const site = state.sites.includes($('site').value) ? $('site').value : state.sites[0];
  return { r: site ? { site, view: 'search' } : {}, waiting: true };
}

/** A link of the page (tabs, back to the calls found, a case or a call in a list) opens its entry with this sign-in's state. */
function followLink(event) {
  const link = event.target instanceof Element ? event.target.closest('a[href^="#"]') : null;
  if (!link || link.getAttribute('href') === '#' || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  const wanted = Object.fromEntries(new URLSearchParams(link.getAttribute('href').slice(1)));
  void navigate(wanted.view === 'search' ? searchRoute(wanted.site ?? currentSite()) : wanted);
}

/** What the views get: the config, the site, the API as the signed-in officer, navigation. */
const ctx = {
  get config() {
    return state.config;
  },
  site: () => currentSite(),
  /** How many sign-outs so far: an answer to a request asked before the last one is dropped, not shown to the next officer at the desk. */
  signOuts: () => state.signOuts,
  /** The view shown (undefined signed out): an answer for a view left since it was asked is not drawn. */
  view: () => state.view,
  pollSeconds,
  navigate,
  keep,
  api: (path, options) => api(state.config, path, options).catch(handleSignedOut),
  sitePath: (path) => `sites/${encodeURIComponent(currentSite())}/${path}`,
  /** The signed-in user may only search and listen at the site shown (listener-<site>). */
  listener: () => state.access[currentSite()] === 'listener',
  recordSearch,
};

function handleSignedOut(error) {
  // A request still in flight when the officer signed out has nothing more to say.
  if (error instanceof SignedOutError && $('signin-view').hidden) signOut(error.message);
  throw error;
}

function show(view) {
  for (const name of VIEWS) $(`${name}-view`).hidden = name !== view;
  const signedIn = view !== 'signin' && view !== 'newpw';
  $('account').hidden = !signedIn;
  $('tabs').hidden = !signedIn;
  for (const link of $('tabs').querySelectorAll('a')) {
    const current = link.dataset.view === view || (view === 'call' && link.dataset.view === 'search');
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
    link.href = link.dataset.view === 'search' ? hashOf(searchRoute(currentSite())) : hashOf({ site: currentSite(), view: link.dataset.view });
  }
  // Back to the calls found of the site the call is of (not the officer's first site), with the filters they were found by (followLink).
  $('back-to-search').href = hashOf(searchRoute(currentSite()));
  document.title = `${VIEW_TITLES[view] ?? 'Ferry'} — Ferry compliance console`;
}

const VIEW_TITLES = { signin: 'Sign in', newpw: 'New password', search: 'Search calls', call: 'Call', cases: 'Cases', erasures: 'Erasures', audit: 'Audit trail' };
/** The heading a view change moves the keyboard focus to, so that keyboard and screen-reader users know where they are. */
const VIEW_HEADINGS = { search: 'results-title', call: 'call-title', cases: 'cases-title', erasures: 'erasures-title', audit: 'audit-title' };

function focusView(view) {
  const heading = VIEW_HEADINGS[view] && $(VIEW_HEADINGS[view]);
  if (!heading) return;
  heading.tabIndex = -1;
  heading.focus({ preventScroll: false });
}

// ---- sign out, signed in (the sign-in forms and the session's expiry: console-signin.js) ----

/**
 * Back to sign-in. `forgetWork` (the officer pressed Sign out): the address (the call open) and
 * every field typed (filters, reasons) go too, so the next officer at the desk starts from
 * nothing and nothing is opened or searched in their name. A session that expired keeps them:
 * the same officer signs in again and is back where they were.
 */
function signOut(message, { forgetWork = false } = {}) {
  state.signOuts += 1;
  forgetSession();
  if (forgetWork) {
    // The entries before this one keep their state (an owner id no one holds any more and an entry
    // id), but the searches those ids stood for are removed with the owner id.
    forgetHistoryOwner();
    history.replaceState(null, '', `${location.pathname}${location.search}`);
    for (const form of document.querySelectorAll('form')) form.reset();
    $('selection-reason').value = '';
    $('selection-case').value = '';
  }
  stopExpiryWatch();
  state.owner = undefined;
  state.route = undefined;
  // Signing in again shows the view anew: its heading takes the focus (render's `changed`).
  state.view = undefined;
  state.rid = undefined;
  state.case = undefined;
  forgetSearch();
  forgetAudit();
  // The erasure's confirmation and the site's requests are the signed-out officer's: nothing of them stays.
  if ($('erase-dialog').open) $('erase-dialog').close();
  forgetErasures();
  forgetCases();
  const audio = $('audio');
  audio.pause();
  audio.removeAttribute('src');
  notify('');
  clearError();
  show('signin');
  $('signin-error').textContent = message ?? '';
  $('signin-error').hidden = !message;
  $('password').value = '';
  $('username').focus();
}

async function signedIn(session) {
  watchExpiry(session, signOut);
  $('who').textContent = session.username;
  state.owner = historyOwner(session.username);
  try {
    const answer = await ctx.api('sites');
    state.sites = answer.sites.map((s) => s.name);
    state.access = Object.fromEntries(answer.sites.map((s) => [s.name, s.access ?? 'officer']));
    state.closed = answer.closed ?? [];
  } catch (error) {
    if (error instanceof SignedOutError) return;
    show('search');
    showError(refusalText('Listing your sites', error));
    return;
  }
  const select = $('site');
  select.replaceChildren(...state.sites.map((name) => el('option', name, { value: name })));
  await render();
}

// ---- views ----

/**
 * The view and item shown from now on. `changed`: another view or call (its heading takes the
 * focus); `caseOpened`: a case opened (its link, Create case), whose heading takes the focus rather
 * than the list's top. A notice belongs to the view it was given in.
 */
function enterView(view, r) {
  const changed = view !== state.view || (view === 'call' && r.rid !== state.rid);
  const caseOpened = view === 'cases' && Boolean(r.case) && (changed || r.case !== state.case);
  if (view !== state.view) notify('');
  state.view = view;
  state.rid = r.rid;
  state.case = r.case;
  return { changed, caseOpened };
}

async function showCases(caseId, caseOpened) {
  // openCases shows the case's panel and title before it awaits anything.
  const opening = openCases(ctx, caseId);
  if (caseOpened) focusOn('case-title');
  await opening;
}

/** Why an officer whose sites were all off-boarded sees none: those sites (their own groups' only) and whom to ask. */
function closedText(closed) {
  const one = closed.length === 1;
  const names = one ? closed[0] : `${closed.slice(0, -1).join(', ')} and ${closed.at(-1)}`;
  return `The ${one ? 'site' : 'sites'} your account was given, ${names}, ${one ? 'was' : 'were'} closed (off-boarded): your groups open ${one ? 'it' : 'them'} to no one any more, so your account may see no site. ${one ? 'Its' : 'Their'} calls are kept to the end of their retention; for one of them (a legal request), ask the administrator of this service, who can still find them.`;
}

async function render() {
  if (!currentSession()) {
    signOut();
    return;
  }
  const { r, waiting } = entryToShow();
  const site = r.site ?? state.sites[0];
  // An officer with no site has nothing to search (the form would only earn a 404).
  $('search').hidden = !site;
  if (!site) {
    show('search');
    showError(state.closed.length ? closedText(state.closed) : 'Your account may not see any site yet: ask your administrator to add you to a site group (officer-<site>, or listener-<site> to search and listen only).');
    return;
  }
  r.site = site;
  r.view ??= 'search';
  // The entry is stamped as this sign-in's (or made the empty form's), its address without the filters that can name a person.
  writeEntry(r, { replace: true, waiting });
  state.route = r;
  const select = $('site');
  // A site from an earlier address that is not one of the officer's leaves the list once another is shown.
  for (const option of [...select.options]) if (!state.sites.includes(option.value) && option.value !== site) option.remove();
  // A site from the address that is not one of the officer's is still asked for: the API judges.
  if (![...select.options].some((o) => o.value === site)) select.append(el('option', `${site} (not one of your sites)`, { value: site }));
  select.value = site;
  // What only the site's officers may do is not offered to a listener (the API refuses it as well).
  document.body.classList.toggle('listen-only', state.access[site] === 'listener');
  $('officer-group').textContent = `officer-${site}`;
  clearError();
  const view = VIEWS.includes(r.view) && r.view !== 'signin' && r.view !== 'newpw' ? r.view : 'search';
  const left = state.view === 'call' ? state.rid : undefined;
  const { changed, caseOpened } = enterView(view, r);
  show(view);
  if (changed && !caseOpened) focusView(view);
  if (view === 'search' && waiting) showEmptySearch();
  else if (view === 'search') await openSearch(ctx, r, site, left);
  else if (view === 'call') await openCall(ctx, r.rid ?? '');
  else if (view === 'cases') await showCases(r.case, caseOpened);
  else if (view === 'erasures') await openErasures(ctx, r.status);
  else if (view === 'audit') await openAudit(ctx);
}

function wire() {
  // The zone the page shows and reads times in; another one chosen shows the view again in it.
  wireZone(() => (state.route?.view === 'search' ? reshowResults() : void render()));
  wireSignIn(ctx, { show, signedIn });
  $('sign-out').addEventListener('click', () => signOut('You signed out.', { forgetWork: true }));
  // A site is opened (and its search audited) when the officer chooses it: a click, or Enter or
  // leaving the list after moving through it with the arrow keys, which fire \`change\` at every site passed over.
  const select = $('site');
  let keyed = false;
  const openSite = () => {
    keyed = false;
    if (select.value === currentSite()) return;
    const view = state.route?.view === 'call' ? 'search' : state.route?.view;
    // Another site is searched with the filters of the search shown.
    void navigate({ site: select.value, view, ...(view === 'search' ? shownFilters() : {}) });
  };
  select.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') openSite();
    else if (e.key.startsWith('Arrow') || e.key === 'Home' || e.key === 'End' || e.key === 'PageUp' || e.key === 'PageDown' || e.key.length === 1) keyed = true;
  });
  select.addEventListener('change', () => {
    if (!keyed) openSite();
  });
  select.addEventListener('blur', () => {
    if (keyed) openSite();
  });
  wireSearch(ctx);
  markScrollingFrames();
  document.addEventListener('click', followLink);
  // Back, Forward, a link and an address typed: popstate (it precedes hashchange, which would render twice).
  window.navigation?.addEventListener('navigate', (e) => {
    arrival = e.navigationType === 'traverse' || e.navigationType === 'reload' ? 'traverse' : 'new';
  });
  window.addEventListener('popstate', () => {
    // Without the Navigation API, Back to an entry with no owner cannot be told from a link: read as new (its address names no one).
    if (!window.navigation) arrival = 'new';
    void render();
  });
}

async function boot() {
  wire();
  try {
    state.config = await loadConfig();
  } catch (error) {
    show('signin');
    showError(error.message, undefined, { atSignIn: true });
    return;
  }
  const session = currentSession();
  if (session) await signedIn(session);
  else signOut();
}

void boot();
