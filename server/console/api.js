// SPDX-License-Identifier: Apache-2.0
//
// The one way the console talks to the server. Contract:
// - same-origin requests with the session cookie (credentials: 'same-origin');
// - every method but GET/HEAD carries X-CSRF-Token (setCsrf after login or
//   after GET /api/v1/session);
// - a JSON body in, JSON out;
// - any failure rejects with ApiError whose .message is a readable sentence
//   (from {"error":{"code","message"}}, or a network problem), never JSON;
// - a 401 on an authenticated call also runs the onUnauthorized handler
//   (the app goes back to the login view), unless {auth: false};
// - an aborted request rejects with an Error named 'AbortError': callers
//   ignore those (isAbort).

let csrf = '';
let onUnauthorized = () => {};

export function setCsrf(token) { csrf = token || ''; }
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export function isAbort(e) {
  return e && e.name === 'AbortError';
}

// Sentences for codes whose server message benefits from a lead-in.
const LEAD = {
  unauthorized: 'You are not logged in, or your session has expired.',
  csrf_required: 'The request lacked the session\'s CSRF token; reload the page.',
  empty_target: 'The target has no enabled device of this product.',
  devices_cannot_accept: 'Some devices of the target could never install this firmware.',
  device_in_rollout: 'Some devices of the target are already in an active rollout.',
  invalid_waves: 'The waves are not valid.',
  invalid_threshold: 'A threshold is not valid.',
  invalid_filter: 'The filter is not valid.',
  invalid_transition: 'That action is not possible in the rollout\'s current state.',
  firmware_not_found: 'No such firmware.',
  group_not_found: 'No such group.',
  payload_too_large: 'The file is too large.',
  invalid_image: 'The file is not a valid ESP32 application image.',
};

// A readable sentence from a parsed error body (or none) and the status.
export function describe(status, body) {
  const err = body && typeof body === 'object' && body.error && typeof body.error === 'object' ? body.error : null;
  const code = err && typeof err.code === 'string' ? err.code : '';
  let msg = err && typeof err.message === 'string' ? err.message.trim() : '';
  if (msg && !/[.!?]$/.test(msg)) msg += '.';
  if (msg) msg = msg[0].toUpperCase() + msg.slice(1);
  const lead = LEAD[code] || '';
  const text = [lead, msg].filter(Boolean).join(' ') || `The server answered ${status}.`;
  return code ? `${text} (${code})` : text;
}

function queryString(query) {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

// request('GET', '/api/v1/fleet', {query, body, signal, auth}) -> parsed JSON.
export async function request(method, path, opts = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', signal: opts.signal, cache: 'no-store' };
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(path + queryString(opts.query), init);
  } catch (e) {
    if (isAbort(e)) throw e;
    throw new ApiError('The server could not be reached; check that ota-server is running.', 0, 'network');
  }
  let body = null;
  const text = await res.text();
  if (text) {
    try { body = JSON.parse(text); } catch { body = null; }
  }
  if (!res.ok) {
    if (res.status === 401 && opts.auth !== false) onUnauthorized();
    throw new ApiError(describe(res.status, body), res.status, body && body.error ? body.error.code : '');
  }
  return body;
}

export const get = (path, opts) => request('GET', path, opts);
export const post = (path, body, opts = {}) => request('POST', path, { ...opts, body });
export const del = (path, opts) => request('DELETE', path, opts);

// A multipart upload with progress: XMLHttpRequest, since fetch reports no
// upload progress. onProgress(0..100); resolves to the parsed JSON answer.
export function upload(path, formData, { onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.withCredentials = false; // same origin: the cookie goes anyway
    xhr.setRequestHeader('Accept', 'application/json');
    if (csrf) xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(Math.round((100 * e.loaded) / e.total));
    };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) {
        if (onProgress) onProgress(100);
        resolve(body);
      } else {
        if (xhr.status === 401) onUnauthorized();
        reject(new ApiError(describe(xhr.status, body), xhr.status, body && body.error ? body.error.code : ''));
      }
    };
    xhr.onerror = () => reject(new ApiError('The upload failed: the server could not be reached.', 0, 'network'));
    xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'));
    if (signal) {
      if (signal.aborted) { reject(new DOMException('aborted', 'AbortError')); return; }
      signal.addEventListener('abort', () => xhr.abort(), { once: true });
    }
    xhr.send(formData);
  });
}
