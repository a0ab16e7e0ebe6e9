// SPDX-License-Identifier: Apache-2.0
//
// Boot, session and navigation. On load GET /api/v1/session recovers the
// CSRF token (401: the login view). Each route renders one view into
// <main>; leaving it aborts its AbortController, which stops its polling
// and cancels its requests (their AbortErrors are ignored).
//
// A view module exports render(ctx). ctx:
//   mount(name)      -> the view's root <section data-testid="view-NAME">, in <main>
//   ready(root)      marks root data-ready="true" (its data has loaded and rendered)
//   signal           aborted when the view is left
//   param            the route's id (rollout or device), decoded
//   error(e, src)    shows e in the error banner unless it is an abort
//   clearError(src)  clears the banner if src showed it
//   confirm(msg, yes) the in-page confirm dialog -> Promise<boolean>
//   poll(ms, fn)     runs async fn now and ms after each run ends, until left
import * as api from './api.js';
import { h, replace } from './dom.js';
import * as router from './router.js';
import { banner, showError, clearError, confirmDialog, closeDialog } from './ui.js';
import * as login from './views/login.js';
import * as overview from './views/overview.js';
import * as firmware from './views/firmware.js';
import * as rollouts from './views/rollouts.js';
import * as rollout from './views/rollout.js';
import * as devices from './views/devices.js';
import * as device from './views/device.js';
import * as audit from './views/audit.js';

const VIEWS = { overview, firmware, rollouts, rollout, devices, device, audit };
const TITLES = {
  overview: 'Overview', firmware: 'Firmware', rollouts: 'Rollouts', rollout: 'Rollout',
  devices: 'Devices', device: 'Device', audit: 'Audit log', login: 'Log in',
};
const NAV = [['overview', 'Overview'], ['firmware', 'Firmware'], ['rollouts', 'Rollouts'], ['devices', 'Devices'], ['audit', 'Audit log']];

let session = null; // {actor, csrf_token, expires_at} while logged in
let current = null; // {controller} of the view shown
const main = h('main', { id: 'main' });
const navLinks = {};
const who = h('span', { class: 'who' });
const logoutBtn = h('button', { type: 'button', 'data-testid': 'logout', class: 'secondary', onclick: logout }, 'Log out');
const nav = h('nav', { 'aria-label': 'Views', hidden: true },
  h('ul', null, NAV.map(([name, text]) => h('li', null,
    (navLinks[name] = h('a', { href: router.href(name), 'data-testid': `nav-${name}` }, text))))));
const account = h('div', { class: 'account', hidden: true }, who, logoutBtn);

function leave() {
  closeDialog();
  if (current) current.controller.abort();
  current = null;
  replace(main);
}

function context(name, controller, param) {
  const signal = controller.signal;
  return {
    signal,
    param,
    mount(viewName) {
      const root = h('section', { 'data-testid': `view-${viewName}`, class: `view view-${viewName}` });
      replace(main, root);
      return root;
    },
    ready(root) {
      if (!signal.aborted) root.setAttribute('data-ready', 'true');
    },
    error(e, src) {
      if (api.isAbort(e) || signal.aborted) return;
      showError(e, src);
    },
    clearError,
    confirm: confirmDialog,
    poll(ms, fn) {
      const run = async () => {
        if (signal.aborted) return;
        try { await fn(); } catch (e) { if (!api.isAbort(e) && !signal.aborted) showError(e, 'poll'); }
        if (!signal.aborted) {
          const t = setTimeout(run, ms);
          signal.addEventListener('abort', () => clearTimeout(t), { once: true });
        }
      };
      run();
    },
  };
}

function show(route) {
  leave();
  clearError();
  if (!session) return showLogin();
  if (!route.known) { history.replaceState(null, '', router.href('overview')); }
  const name = route.view;
  for (const [n, a] of Object.entries(navLinks)) {
    const active = n === name || (n === 'rollouts' && name === 'rollout') || (n === 'devices' && name === 'device');
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.title = `${TITLES[name]} · ota-server`;
  const controller = new AbortController();
  current = { controller };
  try {
    VIEWS[name].render(context(name, controller, route.param));
  } catch (e) {
    showError(e);
  }
}

function setSession(s) {
  session = s;
  api.setCsrf(s ? s.csrf_token : '');
  nav.hidden = !s;
  account.hidden = !s;
  replace(who, s ? `Logged in as ${s.actor || 'admin'}` : '');
}

function showLogin(message) {
  leave();
  setSession(null);
  document.title = `${TITLES.login} · ota-server`;
  const controller = new AbortController();
  current = { controller };
  login.render(context('login', controller, null), {
    message,
    onLogin(s) {
      setSession(s);
      show(router.parse());
    },
  });
}

async function logout() {
  try {
    await api.del('/api/v1/session', { auth: false });
  } catch (e) {
    if (e.status !== 401) showError(e);
  }
  showLogin();
}

async function boot() {
  const header = h('header', { class: 'top' },
    h('a', { class: 'brand', href: router.href('overview') }, 'ota-server'), nav, account);
  document.body.replaceChildren(header, banner(), main);
  api.setUnauthorizedHandler(() => {
    if (session) showLogin('Your session has ended; log in again.');
  });
  router.onChange((route) => { if (session) show(route); });
  try {
    setSession(await api.get('/api/v1/session', { auth: false }));
    show(router.parse());
  } catch (e) {
    if (e.status === 401) showLogin();
    else { showLogin(); showError(e); }
  }
}

boot();
