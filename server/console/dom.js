// SPDX-License-Identifier: Apache-2.0
//
// DOM helpers. Contract: nothing here ever parses HTML. Text goes in through
// text nodes (createTextNode / textContent), attributes through
// setAttribute, so data from the API can never become markup or script.

const SVG_NS = 'http://www.w3.org/2000/svg';

// Appends children: strings and numbers become text nodes, null, undefined
// and false are skipped, arrays are flattened.
function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

// attrs: "class", "data-*", "aria-*", "for", ... become attributes;
// on<event> functions become listeners; "value", "checked", "disabled",
// "hidden", "selected" are set as properties (false removes them).
function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'selected') {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

// h('td', {class: 'num'}, 'text', otherNode): an HTML element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  return append(el, children);
}

// s('rect', {x: 0, width: '40%'}): an SVG element (namespaced).
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  return append(el, children);
}

// Replaces every child of el with the given ones.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// Wraps a table so that it scrolls inside its own box on a narrow screen.
export function tableWrap(table) {
  return h('div', { class: 'table-wrap' }, table);
}

// A table from a header row and body rows (tr elements); empty shows `emptyText`.
export function table(testid, headers, rows, emptyText) {
  const head = h('thead', null, h('tr', null, headers.map((x) => (x instanceof Node ? x : h('th', { scope: 'col' }, x)))));
  const body = h('tbody', null, rows);
  if (rows.length === 0 && emptyText) body.appendChild(h('tr', { class: 'empty' }, h('td', { colspan: headers.length }, emptyText)));
  return tableWrap(h('table', { 'data-testid': testid }, head, body));
}

// A label + field pair: label's "for" is the field's id (every field has one).
export function field(labelText, input, hint) {
  return h('div', { class: 'field' }, h('label', { for: input.id }, labelText), input, hint ? h('small', { class: 'hint' }, hint) : null);
}

// A <select> from [value, text] pairs.
export function select(attrs, options, selected) {
  return h('select', attrs, options.map(([v, t]) => h('option', { value: v, selected: v === selected }, t)));
}

// A <datalist> of suggestions for a text input (its id goes in the input's list=).
export function datalist(id, values) {
  return h('datalist', { id }, values.map((v) => h('option', { value: v })));
}
