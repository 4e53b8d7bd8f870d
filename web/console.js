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

import { ApiError, api, currentSession, forgetHistoryOwner, forgetSession, historyOwner, keepRoute, keptRoute, loadConfig, randomId, refusalText, setNewPassword, SignedOutError, signIn } from './console-api.js';
import { openCall } from './console-call.js';
import { loadCaseOptions, openCases, startExport } from './console-cases.js';
import { forgetAudit, openAudit } from './console-audit.js';
import { forgetErasures, openErasures } from './console-erasures.js';
import { $, cell, checkOrder, checkRange, clearError, clearFieldError, el, fieldError, focusIfLost, focusOn, giveFocusBack, notify, reportFailure, required, showError, timeEl } from './console-ui.js';
import { durationText, isoFromLocal, localText, wallText, zoneName } from './shared.js';

/** New calls one request adds to a case (the API's CASE_HOLD_BATCH: a held case takes no more a request). */
const CASE_ADD_PART = 500;

const VIEWS = ['signin', 'newpw', 'search', 'call', 'cases', 'erasures', 'audit'];

const state = {
  config: undefined,
  sites: [],
  /** A NEW_PASSWORD_REQUIRED challenge being answered. */
  challenge: undefined,
  expiryTimer: undefined,
  /** The warning two minutes before the session ends. */
  warningTimer: undefined,
  /** The search the table shows: its site and filters, the cursors of the pages seen, which page. */
  search: undefined,
  /** Calls ticked in the results, across pages: rid → entry. */
  selected: new Map(),
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
  pollSeconds,
  navigate,
  keep,
  api: (path, options) => api(state.config, path, options).catch(handleSignedOut),
  sitePath: (path) => `sites/${encodeURIComponent(currentSite())}/${path}`,
  selectedRids: () => [...state.selected.keys()],
  startExport: (body) => startExport(ctx, body),
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

// ---- 1. sign in, set a new password, sign out, expiry ----

/**
 * Back to sign-in. `forgetWork` (the officer pressed Sign out): the address (the call open) and
 * every field typed (filters, reasons) go too, so the next officer at the desk starts from
 * nothing and nothing is opened or searched in their name. A session that expired keeps them:
 * the same officer signs in again and is back where they were.
 */
function signOut(message, { forgetWork = false } = {}) {
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
  clearTimeout(state.expiryTimer);
  clearTimeout(state.warningTimer);
  $('session-warning').hidden = true;
  state.search = undefined;
  state.owner = undefined;
  state.route = undefined;
  // Signing in again shows the view anew: its heading takes the focus (render's `changed`).
  state.view = undefined;
  state.rid = undefined;
  state.case = undefined;
  clearSelection();
  clearResults();
  forgetAudit();
  // The erasure's confirmation and the site's requests are the signed-out officer's: nothing of them stays.
  if ($('erase-dialog').open) $('erase-dialog').close();
  forgetErasures();
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

/** How long before the session ends the officer is warned. */
const WARN_BEFORE_MS = 120_000;

/**
 * The session cannot be extended: the page keeps only Cognito's access token (an hour), and the
 * local Cognito stand-in issues no refresh token (InitiateAuth USER_PASSWORD_AUTH only), so
 * REFRESH_TOKEN_AUTH could not be tested against it. So the officer is warned two minutes before
 * (an alert, the focus left where it is), and what they typed is kept through the sign-in again
 * (signOut without forgetWork), which returns to the same view.
 */
function watchExpiry(session) {
  clearTimeout(state.expiryTimer);
  clearTimeout(state.warningTimer);
  $('session-warning').hidden = true;
  const ends = `${localText(new Date(session.expiresAt).toISOString()).slice(11)} (${zoneName()})`;
  state.warningTimer = setTimeout(() => {
    $('session-warning').textContent = `Your session ends at ${ends}. What you have typed is kept: sign in again then, and you return here with it.`;
    $('session-warning').hidden = false;
  }, Math.max(0, session.expiresAt - WARN_BEFORE_MS - Date.now()));
  // The token's own expiry sends the officer back to sign in, with the reason.
  state.expiryTimer = setTimeout(() => signOut(`Your session expired at ${ends}. Sign in again.`), Math.max(0, session.expiresAt - Date.now()));
}

async function signedIn(session) {
  watchExpiry(session);
  $('who').textContent = session.username;
  state.owner = historyOwner(session.username);
  try {
    const answer = await ctx.api('sites');
    state.sites = answer.sites.map((s) => s.name);
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

/** The sign-in form's error, tied to the field it is about (aria-invalid, aria-describedby), which takes the focus. */
function signInError(field, message) {
  const box = $('signin-error');
  box.textContent = message;
  box.hidden = false;
  field.setAttribute('aria-invalid', 'true');
  field.setAttribute('aria-describedby', 'signin-error');
  field.focus();
}

async function submitSignIn(event) {
  event.preventDefault();
  $('signin-error').hidden = true;
  for (const field of [$('username'), $('password')]) {
    field.removeAttribute('aria-invalid');
    field.removeAttribute('aria-describedby');
  }
  const username = $('username').value.trim();
  const password = $('password').value;
  if (!username || !password) {
    signInError(!username ? $('username') : $('password'), !username ? 'Enter your user name.' : 'Enter your password.');
    return;
  }
  const button = event.submitter ?? $('signin').querySelector('button');
  button.disabled = true;
  try {
    const result = await signIn(state.config, username, password);
    $('password').value = '';
    if (result.challenge) {
      state.challenge = result.challenge;
      show('newpw');
      $('new-password').focus();
      return;
    }
    await signedIn(result.signedIn);
  } catch (error) {
    signInError($('password'), error instanceof ApiError ? error.message : `Sign-in failed: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

async function submitNewPassword(event) {
  event.preventDefault();
  const box = $('newpw-error');
  box.hidden = true;
  const password = $('new-password').value;
  if (password !== $('new-password-again').value) {
    box.textContent = 'The two passwords differ.';
    box.hidden = false;
    return;
  }
  try {
    const result = await setNewPassword(state.config, state.challenge, password);
    state.challenge = undefined;
    $('new-password').value = '';
    $('new-password-again').value = '';
    await signedIn(result.signedIn);
  } catch (error) {
    box.textContent = error instanceof ApiError && error.errorName === 'InvalidPasswordException' ? `That password is not accepted: ${error.message}` : error.message;
    box.hidden = false;
  }
}

// ---- 3. search ----

const FILTERS = ['agent', 'number', 'callId', 'direction', 'minDuration', 'maxDuration', 'sort'];
/** What a search is in its history entry's route (keepRoute): its filters, `from` and `to` (ISO, UTC) and the page size when it is not the default (the address: all but PERSONAL). */
const SEARCH_KEYS = ['from', 'to', ...FILTERS, 'limit'];
const DEFAULT_LIMIT = '25';

function addressParams(params) {
  const out = {};
  for (const name of SEARCH_KEYS) if (params[name] !== undefined && params[name] !== '' && !(name === 'limit' && params[name] === DEFAULT_LIMIT)) out[name] = params[name];
  return out;
}

const searchKey = (params) => new URLSearchParams(Object.entries(addressParams(params)).sort(([a], [b]) => (a < b ? -1 : 1))).toString();

/** The entry of `site`'s calls found: with the filters of the search shown when it is that site's. */
function searchRoute(site) {
  const params = state.search?.site === site ? addressParams(state.search.params) : {};
  return { site, view: 'search', ...params };
}

/** Whether the entry shown is this sign-in's `r`, searched (not an empty form waiting). */
function showing(r) {
  const route = ownRoute();
  return Boolean(route) && !history.state.waiting && searchKey(route) === searchKey(r) && route.site === r.site && route.view === r.view;
}

/**
 * Puts the search the address asks for into the form (a reload, Back, a bookmark). A value the
 * form cannot hold (a date that is not one, a direction it does not offer) is an error naming
 * it, not a search run without it.
 */
function fillSearch(wanted) {
  for (const name of ['from', 'to', 'agent', 'number', 'callId', 'minDuration', 'maxDuration']) {
    const value = wanted[name] ?? '';
    const field = $(name);
    field.value = (name === 'from' || name === 'to') && value ? wallText(value).replace(' ', 'T') : value;
    // The address's instant, kept while the field shows it: a wall time of the hour the clocks go
    // back stands for two instants, and the one asked for is the one searched (readSearch).
    if (name === 'from' || name === 'to') Object.assign(field.dataset, { iso: value && !Number.isNaN(Date.parse(value)) ? new Date(value).toISOString() : '', wall: field.value });
  }
  for (const name of ['direction', 'sort']) $(name).value = wanted[name] ?? '';
  $('limit').value = wanted.limit ?? DEFAULT_LIMIT;
  for (const name of SEARCH_KEYS) {
    const value = wanted[name];
    if (value === undefined) continue;
    const field = $(name);
    const held = name === 'from' || name === 'to' ? field.value && !Number.isNaN(Date.parse(value)) : field.value === value;
    if (!held) throw new Error(`The address asks for ${name}=${value}, which the search form does not take. Change the search and press Search.`);
  }
}

/** A From/To field's instant: the address's own while the field still shows it, else its wall time read in the browser's zone. */
function fieldIso(label, field) {
  if (field.value && field.dataset.iso && field.value === field.dataset.wall) return field.dataset.iso;
  return isoFromLocal(label, field.value);
}

function readSearch() {
  const params = { limit: $('limit').value };
  const from = fieldIso('From', $('from'));
  const to = fieldIso('To', $('to'));
  checkRange($('from'), $('to'), from, to);
  if (from) params.from = from;
  if (to) params.to = to;
  for (const name of FILTERS) {
    const value = $(name).value.trim();
    if (value) params[name] = value;
  }
  for (const name of ['minDuration', 'maxDuration']) {
    if (params[name] !== undefined && !/^\d+$/.test(params[name])) throw fieldError($(name), `${name === 'minDuration' ? 'Shortest' : 'Longest'} must be a whole number of seconds.`);
    clearFieldError($(name));
  }
  // A shortest longer than the longest matches nothing: refused at Shortest, as the API refuses it.
  const [min, max] = [params.minDuration, params.maxDuration].map((v) => (v === undefined ? undefined : Number(v)));
  checkOrder($('minDuration'), $('maxDuration'), min !== undefined && max !== undefined && min > max, 'Shortest must not be more than Longest: choose a smaller Shortest, or a larger Longest.');
  return params;
}

function toggleSelected(entry, on) {
  if (on) state.selected.set(entry.rid, entry);
  else state.selected.delete(entry.rid);
  showSelection();
}

/** The selection's legend: how many calls, and how many of them are not on the page shown (an export takes them all). */
function showSelection() {
  const n = state.selected.size;
  const onPage = new Set((state.search?.items ?? []).map((e) => e.rid));
  const elsewhere = [...state.selected.keys()].filter((rid) => !onPage.has(rid)).length;
  $('selected-count').textContent = n === 0 ? 'No calls selected' : `${n} call${n === 1 ? '' : 's'} selected${elsewhere ? ` (${elsewhere} not on this page)` : ''}`;
  $('selection').disabled = n === 0;
}

/** Unticks every call: a new search, a finished export or addition, the button, a sign-out, another site. */
function clearSelection() {
  state.selected.clear();
  for (const box of $('results').querySelectorAll('tbody input[type=checkbox]')) box.checked = false;
  showSelection();
}

function addRow(entry) {
  const meta = entry.meta ?? {};
  const row = $('results').tBodies[0].insertRow();
  row.dataset.rid = entry.rid;
  const box = el('input', undefined, { type: 'checkbox', 'aria-label': `Select call ${meta.callId ?? entry.rid}` });
  box.checked = state.selected.has(entry.rid);
  box.addEventListener('click', (e) => e.stopPropagation());
  box.addEventListener('change', () => toggleSelected(entry, box.checked));
  cell(row, box);
  cell(row, timeEl(entry.start));
  cell(row, meta.callId ?? entry.rid, 'mono');
  cell(row, meta.agent);
  cell(row, `${meta.caller ?? '?'} → ${meta.called ?? '?'}`, 'mono');
  cell(row, meta.direction);
  cell(row, durationText(entry), 'num');
  const open = el('button', 'Open', { type: 'button', className: 'play', 'aria-label': `Open call ${meta.callId ?? entry.rid}` });
  cell(row, open);
  // The row is the mouse target; the button the keyboard one (its click bubbles here).
  row.addEventListener('click', () => void navigate({ view: 'call', rid: entry.rid }));
}

async function loadSearchPage(index) {
  const search = state.search;
  const mine = search;
  const table = $('results');
  table.setAttribute('aria-busy', 'true');
  $('prev').disabled = true;
  $('next').disabled = true;
  $('status').textContent = 'Searching…';
  try {
    const cursor = search.cursors[index];
    const page = await ctx.api(`sites/${encodeURIComponent(search.site)}/recordings`, { query: { ...search.params, ...(cursor ? { cursor } : {}) } });
    if (mine !== state.search) return;
    search.index = index;
    search.cursors[index + 1] = page.cursor ?? null;
    search.items = page.items;
    renderResults();
  } catch (error) {
    if (mine !== state.search) return;
    // The rows of an earlier search (another site, other filters) must not stand under this one.
    clearResults();
    showError(refusalText('The search', error));
    $('status').textContent = 'The search failed.';
  } finally {
    if (mine === state.search) table.removeAttribute('aria-busy');
  }
}

/** Under an empty search by number: numbers are matched as the recorder wrote them, as the CLI says. */
const NUMBER_HINT = ' Numbers are matched as the recorder wrote them (spaces, dashes, brackets, a (0) after the country code ignored; 00 and + are the same): try the national form (0…) and the international one (+ and the country code).';

/**
 * An agent or call id finds only the whole value as the recorder wrote it, capitals included (the
 * catalogue's index is keyed on it): "alice martin" finds no call of "Alice Martin", and an empty
 * list said nothing of it, so the officer took it for no call at all.
 */
function exactHint(params) {
  if (!params.agent && !params.callId) return '';
  const named = params.agent && params.callId ? 'Agents and call ids' : params.agent ? 'Agents' : 'Call ids';
  return ` ${named} are matched whole and exactly as the recorder wrote them, capitals included (alice martin does not find Alice Martin): type the value as the recorder writes it.`;
}

function renderResults() {
  const { items, index, cursors, params } = state.search;
  $('results').tBodies[0].replaceChildren();
  for (const entry of items) addRow(entry);
  const more = Boolean(cursors[index + 1]);
  const first = index * Number(params.limit) + 1;
  if (items.length === 0) $('status').textContent = index === 0 ? `No calls match this search.${params.number ? NUMBER_HINT : ''}${exactHint(params)}` : 'No more calls.';
  else $('status').textContent = `${items.length} call${items.length === 1 ? '' : 's'} on this page (calls ${first}–${first + items.length - 1})${more ? ', more available' : ''}.`;
  $('page-label').textContent = items.length ? `Page ${index + 1}` : '';
  $('prev').disabled = index === 0;
  $('next').disabled = !more;
  showSelection();
}

/** Empties the results: no rows, no page, nothing said about a search that is not on screen (the ticked calls stay ticked). */
function clearResults() {
  $('results').tBodies[0].replaceChildren();
  $('page-label').textContent = '';
  $('status').textContent = '';
  $('prev').disabled = true;
  $('next').disabled = true;
}

function submitSearch(event) {
  event?.preventDefault();
  clearError();
  let params;
  try {
    params = readSearch();
  } catch (error) {
    state.search = undefined;
    clearResults();
    if (!error.atField) showError(error.message);
    return Promise.resolve();
  }
  // A new search starts a new selection: calls ticked for another customer must not ride along into this one's export.
  if (event) clearSelection();
  state.search = { site: currentSite(), params, cursors: [null], index: 0, items: [] };
  // The search asked for goes into the history (an officer's: a new entry, the empty form's replaced),
  // so that a reload and Back come back to it. Neither call fires popstate: nothing runs twice.
  const next = searchRoute(state.search.site);
  if (!showing(next)) writeEntry(next, { replace: !event || Boolean(history.state?.waiting) });
  state.route = next;
  return loadSearchPage(0);
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
    showError('Your account may not see any site yet: ask your administrator to add you to a site group (officer-<site>).');
    return;
  }
  r.site = site;
  r.view ??= 'search';
  // The entry is stamped as this sign-in's (or made the empty form's), its address without the filters that can name a person.
  writeEntry(r, { replace: true, waiting });
  state.route = r;
  const select = $('site');
  // A site from the address that is not one of the officer's is still asked for: the API judges.
  if (![...select.options].some((o) => o.value === site)) select.append(el('option', `${site} (not one of your sites)`, { value: site }));
  select.value = site;
  clearError();
  const view = VIEWS.includes(r.view) && r.view !== 'signin' && r.view !== 'newpw' ? r.view : 'search';
  const left = state.view === 'call' ? state.rid : undefined;
  const { changed, caseOpened } = enterView(view, r);
  show(view);
  if (changed && !caseOpened) focusView(view);
  if (view === 'search' && waiting) showEmptySearch();
  else if (view === 'search') await showSearch(r, site, left);
  else if (view === 'call') await openCall(ctx, r.rid ?? '');
  else if (view === 'cases') await showCases(r.case, caseOpened);
  else if (view === 'erasures') await openErasures(ctx, r.status);
  else if (view === 'audit') await openAudit(ctx);
}

function wire() {
  $('zone').textContent = zoneName();
  // The zone in the header of every column of times: a screen reader says it with each cell, and a screenshot of the rows keeps it.
  for (const span of document.querySelectorAll('[data-zone]')) span.textContent = `(${zoneName()})`;
  $('signin').addEventListener('submit', (e) => void submitSignIn(e));
  $('newpw').addEventListener('submit', (e) => void submitNewPassword(e));
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
    void navigate({ site: select.value, view, ...(view === 'search' && state.search ? addressParams(state.search.params) : {}) });
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
  $('search').addEventListener('submit', (e) => void submitSearch(e));
  $('search').addEventListener('reset', (e) => {
    e.preventDefault();
    for (const name of ['from', 'to', 'agent', 'number', 'callId', 'minDuration', 'maxDuration']) $(name).value = '';
    $('direction').value = '';
    $('sort').value = '';
    clearError();
  });
  // The pager's buttons are disabled while a page loads, which drops the keyboard focus: it is
  // given back to the same button, or to the results' heading when that button is now disabled.
  const page = (button, delta) => void loadSearchPage(state.search.index + delta).then(() => giveFocusBack(button, 'results-title'));
  $('prev').addEventListener('click', () => page($('prev'), -1));
  $('next').addEventListener('click', () => page($('next'), 1));
  $('clear-selection').addEventListener('click', () => {
    clearSelection();
    $('results-title').tabIndex = -1;
    $('results-title').focus();
  });
  $('selection-reason').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      $('export-selected').click();
    }
  });
  $('add-selected').addEventListener('click', () => void addSelectedToCase());
  $('export-selected').addEventListener('click', () => {
    clearError();
    let reason;
    try {
      reason = required('selection-reason', 'The reason for the export');
    } catch (error) {
      reportFailure('The export', error, $('selection'));
      return;
    }
    const rids = ctx.selectedRids();
    clearSelection();
    $('selection-reason').value = '';
    void navigate({ view: 'cases' });
    void ctx.startExport({ rids, reason });
  });
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

/**
 * The calls found of `r`: run when the entry holds another search than the one shown (another
 * site, a reload, Back, a bookmark). Back from a call (`left`): the focus goes to that call's
 * Open button, so that the officer working through the list goes on from where they were.
 */
async function showSearch(r, site, left) {
  const wanted = Object.fromEntries(SEARCH_KEYS.filter((name) => r[name] !== undefined).map((name) => [name, r[name]]));
  if (!state.search || state.search.site !== site || searchKey(state.search.params) !== searchKey(wanted)) {
    clearSelection();
    try {
      fillSearch(wanted);
    } catch (error) {
      state.search = undefined;
      clearResults();
      showError(error.message);
      return;
    }
    await submitSearch();
  }
  const open = left && [...$('results').tBodies[0].rows].find((row) => row.dataset.rid === left)?.querySelector('button.play');
  if (open) open.focus();
  void loadCaseOptions(ctx, $('selection-case'));
}

/** The search form empty and nothing run: what an entry another sign-in wrote is shown as. */
function showEmptySearch() {
  state.search = undefined;
  clearSelection();
  fillSearch({});
  clearResults();
  $('status').textContent = 'Fill in the search and press Search.';
}

async function addSelectedToCase() {
  clearError();
  const caseId = $('selection-case').value;
  if (!caseId) {
    fieldError($('selection-case'), 'Choose the case to add the selected calls to.');
    return;
  }
  try {
    const rids = ctx.selectedRids();
    // A held case takes CASE_ADD_PART new calls a request (each is held before it is added): sent in parts,
    // each again while the answer says members of the case are still to be held (202).
    for (let i = 0; i < rids.length; i += CASE_ADD_PART) {
      let answer;
      do answer = await ctx.api(ctx.sitePath(`cases/${encodeURIComponent(caseId)}/calls`), { method: 'POST', body: { rids: rids.slice(i, i + CASE_ADD_PART) } });
      while (answer?.remaining > 0);
    }
    clearSelection();
    notify(`${rids.length} call${rids.length === 1 ? '' : 's'} added to case ${caseId}.`);
    // The selection (and the button pressed with it) is disabled now: the officer is told where the calls went.
    focusIfLost('notice');
  } catch (error) {
    reportFailure(`Adding calls to case ${caseId}`, error, $('selection'));
  }
}

async function boot() {
  wire();
  try {
    state.config = await loadConfig();
  } catch (error) {
    show('signin');
    showError(error.message);
    return;
  }
  const session = currentSession();
  if (session) await signedIn(session);
  else signOut();
}

void boot();
