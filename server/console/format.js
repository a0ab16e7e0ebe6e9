// SPDX-License-Identifier: Apache-2.0
//
// Formatting for people: sizes with thousands separators and KiB/MiB,
// times relative to now with the exact ISO time in a title. Times from the
// API are Unix seconds; 0 or null means "never".
import { h } from './dom.js';

const nf = new Intl.NumberFormat('en-US');

export function num(n) {
  return n === null || n === undefined ? '—' : nf.format(n);
}

// 33184 -> "33,184 B (32.4 KiB)"; under 1 KiB just "512 B".
export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const plain = `${nf.format(n)} B`;
  if (Math.abs(n) < 1024) return plain;
  const [v, u] = Math.abs(n) < 1024 * 1024 ? [n / 1024, 'KiB'] : Math.abs(n) < 1024 ** 3 ? [n / 1024 ** 2, 'MiB'] : [n / 1024 ** 3, 'GiB'];
  return `${plain} (${v.toFixed(1)} ${u})`;
}

export function iso(sec) {
  return new Date(sec * 1000).toISOString();
}

// "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago", "in 4 min".
export function ago(sec, nowMs = Date.now()) {
  const d = Math.round(nowMs / 1000 - sec);
  const a = Math.abs(d);
  let t;
  if (a < 5) return 'just now';
  if (a < 60) t = `${a} s`;
  else if (a < 3600) t = `${Math.floor(a / 60)} min`;
  else if (a < 86400) t = `${Math.floor(a / 3600)} h`;
  else t = `${Math.floor(a / 86400)} d`;
  return d >= 0 ? `${t} ago` : `in ${t}`;
}

// A <time> element: the relative text, the ISO time in title and datetime.
export function when(sec, never = 'never') {
  if (!sec) return h('span', { class: 'muted' }, never);
  const t = iso(sec);
  return h('time', { datetime: t, title: t }, ago(sec));
}

// 0.1234 -> "12.3%".
export function percent(part, whole) {
  if (!whole) return '—';
  return `${((100 * part) / whole).toFixed(1)}%`;
}

// "rolled_back" -> "rolled back".
export function human(state) {
  return String(state).replace(/_/g, ' ');
}
