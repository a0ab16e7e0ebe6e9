// SPDX-License-Identifier: Apache-2.0
//
// Builds expressions of the API's filter language (docs/server.md, Groups
// and tags): terms joined by "and"; a value outside [A-Za-z0-9._:+/@-] is
// quoted, with \" and \\ escaped; a raw expression is parenthesised.

const BARE = /^[A-Za-z0-9._:+/@-]+$/;

export function quote(value) {
  const v = String(value);
  return BARE.test(v) ? v : `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function term(field, value, op = '=') {
  return `${field}${op}${quote(value)}`;
}

// and(['product=a', '', '(x or y)']) -> 'product=a and (x or y)'
export function and(terms) {
  return terms.filter(Boolean).join(' and ');
}

export function paren(expr) {
  const t = String(expr || '').trim();
  return t ? `(${t})` : '';
}
