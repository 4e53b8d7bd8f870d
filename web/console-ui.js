// Small DOM helpers of the console's views. Data from the API is only ever set as text
// (textContent, attributes), never parsed as HTML.

import { localText, zoneName } from './shared.js';

export const $ = (id) => document.getElementById(id);

export function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

export function clearError() {
  $('error').textContent = '';
  $('error').hidden = true;
}

/** A polite announcement at the top of the page (a recall that completed, a hold placed…). */
export function notify(message) {
  $('notice').textContent = message;
  $('notice').hidden = !message;
}

/** An element with text and attributes. */
export function el(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
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
  else td.textContent = content === undefined || content === null || content === '' ? '—' : String(content);
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

/** Runs `work` with `button` disabled and marked busy; the button's text says so meanwhile. */
export async function busy(button, label, work) {
  const before = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (label) button.textContent = label;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = before;
  }
}

/** The value of a required text field, or an error naming it (focus moves there). */
export function required(id, label) {
  const input = $(id);
  const value = input.value.trim();
  if (!value) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    throw new Error(`${label} is required.`);
  }
  input.removeAttribute('aria-invalid');
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
