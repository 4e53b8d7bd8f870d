// The sign-in: the user name and password form, the new password Cognito asks for at a first
// sign-in (its NEW_PASSWORD_REQUIRED challenge), and the session's end, warned of two minutes
// before. A form hands the session it earned to console.js's `signedIn`; what a sign-out
// forgets is console.js's too.

import { ApiError, setNewPassword, signIn } from './console-api.js';
import { $ } from './console-ui.js';
import { localText, zoneName } from './shared.js';

const signin = {
  ctx: undefined,
  /** console.js's `show(view)` and `signedIn(session)`, which the forms call. */
  hooks: undefined,
  /** A NEW_PASSWORD_REQUIRED challenge being answered. */
  challenge: undefined,
  expiryTimer: undefined,
  /** The warning two minutes before the session ends. */
  warningTimer: undefined,
};

/** No warning, no sign-out to come (a sign-out, a new session). */
export function stopExpiryWatch() {
  clearTimeout(signin.expiryTimer);
  clearTimeout(signin.warningTimer);
  $('session-warning').hidden = true;
}

/** How long before the session ends the officer is warned. */
const WARN_BEFORE_MS = 120_000;

/**
 * The session cannot be extended: the page keeps only Cognito's access token (an hour), and the
 * local Cognito stand-in issues no refresh token (InitiateAuth USER_PASSWORD_AUTH only), so
 * REFRESH_TOKEN_AUTH could not be tested against it. So the officer is warned two minutes before
 * (an alert, the focus left where it is), and what they typed is kept through the sign-in again
 * (signOut without forgetWork), which returns to the same view. `expired(message)` is that sign-out.
 */
export function watchExpiry(session, expired) {
  stopExpiryWatch();
  const ends = `${localText(new Date(session.expiresAt).toISOString()).slice(11)} (${zoneName()})`;
  signin.warningTimer = setTimeout(() => {
    $('session-warning').textContent = `Your session ends at ${ends}. What you have typed is kept: sign in again then, and you return here with it.`;
    $('session-warning').hidden = false;
  }, Math.max(0, session.expiresAt - WARN_BEFORE_MS - Date.now()));
  // The token's own expiry sends the officer back to sign in, with the reason.
  signin.expiryTimer = setTimeout(() => expired(`Your session expired at ${ends}. Sign in again.`), Math.max(0, session.expiresAt - Date.now()));
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
    const result = await signIn(signin.ctx.config, username, password);
    $('password').value = '';
    if (result.challenge) {
      signin.challenge = result.challenge;
      signin.hooks.show('newpw');
      $('new-password').focus();
      return;
    }
    await signin.hooks.signedIn(result.signedIn);
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
  // Disabled while it is answered, as Sign in is: a second press (a double click, a slow network)
  // would answer the challenge again with a session the first answer spent.
  const button = event.submitter ?? $('newpw').querySelector('button');
  button.disabled = true;
  try {
    const result = await setNewPassword(signin.ctx.config, signin.challenge, password);
    signin.challenge = undefined;
    $('new-password').value = '';
    $('new-password-again').value = '';
    await signin.hooks.signedIn(result.signedIn);
  } catch (error) {
    box.textContent = error instanceof ApiError && error.errorName === 'InvalidPasswordException' ? `That password is not accepted: ${error.message}` : error.message;
    box.hidden = false;
  } finally {
    button.disabled = false;
  }
}

/** The sign-in and new-password forms (once, as the page loads). */
export function wireSignIn(ctx, hooks) {
  signin.ctx = ctx;
  signin.hooks = hooks;
  $('signin').addEventListener('submit', (e) => void submitSignIn(e));
  $('newpw').addEventListener('submit', (e) => void submitNewPassword(e));
}
