// Small DOM helpers of the console's views. Data from the API is only ever set as text
// (textContent, attributes), never parsed as HTML.

import { refusalText } from './console-api.js';
import { localText, printable, zoneName } from './shared.js';

export const $ = (id) => document.getElementById(id);

/**
 * An error said where the officer is: beside `near` (a form, a control: in that form's own alert,
 * scrolled into view), else at the top of the page. At 200 % zoom the top is a screen away from
 * the form that failed. Its text shows printable: a refusal may quote a call id or a reason as stored.
 * None while the sign-in form is shown (unless `atSignIn`: the console's own failure to start): a
 * request of the officer who signed out, refused afterwards, is not told to the next one at the desk.
 */
export function showError(message, near, { atSignIn = false } = {}) {
  if (!atSignIn && !$('signin-view').hidden) return;
  const form = near?.closest?.('form, fieldset');
  if (!form) {
    $('error').textContent = printable(message);
    $('error').hidden = false;
    return;
  }
  let box = form.querySelector(':scope > .near-error');
  if (!box) {
    box = el('p', '', { className: 'form-error near-error', role: 'alert' });
    form.append(box);
  }
  box.textContent = printable(message);
  box.hidden = false;
  box.scrollIntoView({ block: 'nearest' });
}

/** What failed, beside `near`; nothing more when a field already says it (fieldError). */
export function reportFailure(what, error, near) {
  if (error?.atField) return;
  showError(refusalText(what, error), near);
}

export function clearError() {
  $('error').textContent = '';
  $('error').hidden = true;
  for (const box of document.querySelectorAll('.near-error')) box.hidden = true;
}

/**
 * A polite announcement (a recall that completed, a hold placed…), none while the sign-in form is shown. The live region stays in the
 * page, empty rather than hidden (a region unhidden as its text is set is often not read out), and
 * is scrolled into view when the officer's action caused it (`scroll`), so that at 200 % zoom
 * something is seen to happen. Its text shows printable (it may quote a call id as stored).
 */
export function notify(message, { scroll = true } = {}) {
  // Signed out: an answer of the officer who signed out (a hold placed, a case created) is not told to the next one at the desk.
  if (message && !$('signin-view').hidden) return;
  const notice = $('notice');
  notice.textContent = message ? printable(message) : '';
  if (!message || !scroll) return;
  const { top, bottom } = notice.getBoundingClientRect();
  if (top < 0 || bottom > innerHeight) notice.scrollIntoView({ block: 'nearest' });
}

/**
 * Marks `input` invalid with `message` shown right below it and tied to it (aria-describedby),
 * moves the focus there, and returns an error that says so (reportFailure then says nothing
 * more). Typing in the field clears it.
 */
export function fieldError(input, message) {
  const id = `${input.id}-error`;
  let box = $(id);
  if (!box) {
    box = el('span', '', { id, className: 'field-error', role: 'alert' });
    input.after(box);
    input.addEventListener('input', () => clearFieldError(input));
    input.addEventListener('change', () => clearFieldError(input));
  }
  box.textContent = printable(message);
  box.hidden = false;
  input.setAttribute('aria-invalid', 'true');
  const described = (input.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean);
  if (!described.includes(id)) input.setAttribute('aria-describedby', [...described, id].join(' '));
  input.focus();
  return Object.assign(new Error(message), { atField: true });
}

export function clearFieldError(input) {
  input.removeAttribute('aria-invalid');
  const id = `${input.id}-error`;
  const box = $(id);
  if (box) box.hidden = true;
  // A hidden message the field still names is still read with it (a description takes hidden
  // nodes it refers to): the field's own descriptions (the zone note) stay, the message goes.
  const described = (input.getAttribute('aria-describedby') ?? '').split(' ').filter((d) => d && d !== id);
  if (described.length) input.setAttribute('aria-describedby', described.join(' '));
  else input.removeAttribute('aria-describedby');
}

/** Upper fields (To, Longest) whose change clears their lower field's order error (either end set right mends it). */
const rangeEnds = new WeakSet();

/**
 * A pair of fields whose first must not be above the second (From and To, Shortest and Longest):
 * when `refused`, the pair is refused at the first field (fieldError: marked, told, focused)
 * before anything is sent, and a change to either field clears it. The API refuses it as well
 * (400), for a client that skips the page.
 */
export function checkOrder(lowInput, highInput, refused, message) {
  if (refused) {
    if (!rangeEnds.has(highInput)) {
      rangeEnds.add(highInput);
      for (const type of ['input', 'change']) highInput.addEventListener(type, () => clearFieldError(lowInput));
    }
    throw fieldError(lowInput, message);
  }
  clearFieldError(lowInput);
}

/** A time range's From later than its To is refused at From; `from` and `to` are the fields' instants (ISO, either absent). From equal to To is a range. */
export function checkRange(fromInput, toInput, from, to) {
  checkOrder(fromInput, toInput, Boolean(from && to && Date.parse(from) > Date.parse(to)), 'From must not be later than To: choose an earlier From, or a later To.');
}

/** An element with text and attributes. */
export function el(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = printable(text);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'className') node.className = value;
    else if (value !== undefined) node.setAttribute(name, value);
  }
  return node;
}

/** A <time> in the browser's zone, its UTC instant in `datetime` and its tooltip. */
export function timeEl(iso) {
  if (!iso) return el('span', '—');
  return el('time', localText(iso), { datetime: iso, title: `${iso} (UTC)` });
}

/** Local time with the zone named: what the page says in sentences. */
export function whenText(iso) {
  return `${localText(iso)} (${zoneName()})`;
}

export function cell(row, content, className) {
  const td = row.insertCell();
  if (content instanceof Node) td.append(content);
  else td.textContent = content === undefined || content === null || content === '' ? '—' : printable(content);
  if (className) td.className = className;
  return td;
}

export function bytesText(bytes) {
  if (typeof bytes !== 'number') return '—';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]} (${bytes.toLocaleString('en')} bytes)`;
}

/**
 * A click on a button marked `aria-disabled="true"` (busy) does nothing: neither its own handler
 * nor the form it submits (Enter in a field clicks the form's default button). Installed once.
 */
let busyClicksIgnored = false;
function ignoreBusyClicks() {
  if (busyClicksIgnored) return;
  busyClicksIgnored = true;
  document.addEventListener('click', (event) => {
    if (!(event.target instanceof Element) || !event.target.closest('button[aria-disabled="true"]')) return;
    event.preventDefault();
    event.stopImmediatePropagation();
  }, true);
}

/**
 * Runs `work` with `button` marked busy; the button's text says so meanwhile. It stays enabled
 * (aria-disabled, clicks ignored) rather than `disabled`: disabling the focused button would drop
 * the keyboard focus to the page, and a screen reader's place with it.
 */
export async function busy(button, label, work) {
  ignoreBusyClicks();
  const before = button.textContent;
  button.setAttribute('aria-disabled', 'true');
  button.setAttribute('aria-busy', 'true');
  if (label) button.textContent = label;
  try {
    return await work();
  } finally {
    button.removeAttribute('aria-disabled');
    button.removeAttribute('aria-busy');
    button.textContent = before;
  }
}

/**
 * Moves the keyboard focus to `id` (a heading, a result) when the control that had it is gone:
 * hidden, disabled or removed by what it did. A focus the officer has moved on is left alone.
 */
export function focusIfLost(id) {
  const active = document.activeElement;
  const lost = !active || active === document.body || !active.isConnected || active.disabled || Boolean(active.closest('[hidden], :disabled'));
  if (lost) focusOn(id);
}

/**
 * After a pager's page loaded: the focus back on the button pressed (disabled meanwhile, which
 * dropped it to the page), or on `fallbackId` (the results' heading) when that button is now disabled.
 */
export function giveFocusBack(button, fallbackId) {
  if (document.activeElement !== document.body) return;
  if (!button.disabled) button.focus();
  else focusOn(fallbackId);
}

/** Focuses `id`, a heading or a result that takes no Tab stop of its own (tabindex -1). */
export function focusOn(id) {
  const target = $(id);
  if (!target.hasAttribute('tabindex')) target.tabIndex = -1;
  target.focus();
}

/** The value of a required text field, at least its `minlength` long; else an error at the field, naming it (fieldError). */
export function required(id, label) {
  const input = $(id);
  const value = input.value.trim();
  if (!value) throw fieldError(input, `${label} is required.`);
  if (input.minLength > 0 && value.length < input.minLength) throw fieldError(input, `${label} must be at least ${input.minLength} characters.`);
  clearFieldError(input);
  return value;
}

/** Follows a download link (the file arrives under the name the server gives it). */
export function followDownload(url) {
  const a = el('a', '', { href: url, rel: 'noopener' });
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
}

/**
 * A table frame (`.table-wrap`) that scrolls sideways (a wide table at a phone's width, or at 400 %
 * zoom) is a named region with a Tab stop of its own, so that the keyboard can scroll it with the
 * arrow keys (a frame of plain text holds nothing else the focus could go to) and a screen reader
 * says what it is ("Records, scrolls sideways"); a frame that fits is neither, and adds no Tab stop.
 * Watched as the window and the tables change size.
 */
export function markScrollingFrames() {
  const mark = (frame) => {
    if (frame.scrollWidth > frame.clientWidth + 1) {
      const heading = frame.closest('section[aria-labelledby]');
      const name = (frame.querySelector('caption')?.textContent || (heading && $(heading.getAttribute('aria-labelledby'))?.textContent) || 'Table').trim();
      Object.assign(frame, { tabIndex: 0 });
      frame.setAttribute('role', 'region');
      frame.setAttribute('aria-label', `${name}, scrolls sideways`);
    } else {
      for (const attribute of ['tabindex', 'role', 'aria-label']) frame.removeAttribute(attribute);
    }
  };
  const observer = new ResizeObserver((entries) => {
    for (const frame of new Set(entries.map((e) => e.target.closest('.table-wrap')))) if (frame) mark(frame);
  });
  for (const frame of document.querySelectorAll('.table-wrap')) {
    observer.observe(frame);
    const table = frame.querySelector('table');
    if (table) observer.observe(table);
  }
}
