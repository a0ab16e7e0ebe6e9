// SPDX-License-Identifier: Apache-2.0
//
// Login: the admin token goes to POST /api/v1/session once; the server
// answers a session cookie (HttpOnly) and the CSRF token. The token itself
// is never kept by the page.
import * as api from '../api.js';
import { h, replace } from '../dom.js';

export function render(ctx, { message, onLogin }) {
  const root = ctx.mount('login');
  const input = h('input', { id: 'login-token', name: 'token', type: 'password', 'data-testid': 'login-token', autocomplete: 'current-password', required: true, spellcheck: 'false' });
  const err = h('p', { 'data-testid': 'login-error', class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', 'data-testid': 'login-submit' }, 'Log in');
  const form = h('form', { 'data-testid': 'login-form', class: 'card login', novalidate: true },
    h('h1', null, 'ota-server console'),
    h('p', { class: 'muted' }, message || 'Log in with the admin token (printed by the server at its first start, or OTA_ADMIN_TOKEN).'),
    h('div', { class: 'field' }, h('label', { for: 'login-token' }, 'Admin token'), input),
    err, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(err);
    const token = input.value.trim();
    if (!token) { replace(err, 'Enter the admin token.'); input.focus(); return; }
    submit.disabled = true;
    try {
      const s = await api.post('/api/v1/session', { token }, { auth: false, signal: ctx.signal });
      input.value = '';
      onLogin(s);
    } catch (ex) {
      if (api.isAbort(ex)) return;
      replace(err, ex.status === 401 ? 'That token was not accepted.' : ex.message);
      input.select();
    } finally {
      submit.disabled = false;
    }
  });
  root.appendChild(form);
  ctx.ready(root);
  input.focus();
}
