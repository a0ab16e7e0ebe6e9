// SPDX-License-Identifier: Apache-2.0
//
// Hash routes: #/overview (the default), #/firmware, #/rollouts,
// #/rollouts/<id>, #/devices, #/devices/<id> (id URI-encoded), #/audit.
// parse() maps the current hash to {view, param}; an unknown hash is the
// overview.

const ROUTES = [
  [/^\/overview$/, 'overview'],
  [/^\/firmware$/, 'firmware'],
  [/^\/rollouts$/, 'rollouts'],
  [/^\/rollouts\/([^/]+)$/, 'rollout'],
  [/^\/devices$/, 'devices'],
  [/^\/devices\/([^/]+)$/, 'device'],
  [/^\/audit$/, 'audit'],
];

export function parse(hash = location.hash) {
  const path = hash.replace(/^#/, '') || '/overview';
  for (const [re, view] of ROUTES) {
    const m = re.exec(path);
    if (m) {
      let param = null;
      if (m[1] !== undefined) {
        try { param = decodeURIComponent(m[1]); } catch { return { view: 'overview', param: null, known: false }; }
      }
      return { view, param, known: true };
    }
  }
  return { view: 'overview', param: null, known: false };
}

export function href(view, param) {
  return param === undefined || param === null ? `#/${view}` : `#/${view}/${encodeURIComponent(param)}`;
}

export const deviceHref = (id) => href('devices', id);
export const rolloutHref = (id) => href('rollouts', id);

export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

export function onChange(fn) {
  window.addEventListener('hashchange', () => fn(parse()));
}
