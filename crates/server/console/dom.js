// Steward console: DOM helpers. Every text goes through textContent (never HTML parsing), so
// data from the server cannot become markup; no inline styles (the CSP forbids them).

/** An element: h('button', {class: 'primary', type: 'button', onclick: fn}, 'Save'). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element: s('rect', {x: 1, y: 2, width: 3, height: 4, class: 'bar'}). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'style') {
      throw new Error('inline styles are forbidden by the CSP; use a class');
    } else if (value === true) {
      el.setAttribute(name, '');
    } else {
      el.setAttribute(name, String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
/** A labelled form field: the label's `for` names the control. */
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++ids}`;
  return h('div', { class: 'field' },
    h('label', { for: control.id }, label),
    control,
    hint ? h('small', { class: 'hint' }, hint) : null);
}

export function input(attrs = {}) {
  return h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs });
}

export function select(options, attrs = {}) {
  return h('select', attrs, options.map((o) => {
    const [value, text] = Array.isArray(o) ? o : [o, o];
    return h('option', { value }, text);
  }));
}

export function button(text, onclick, attrs = {}) {
  return h('button', { type: 'button', onclick, ...attrs }, text);
}

export function loading(what = 'Loading') {
  return h('p', { class: 'loading', role: 'status' }, `${what}…`);
}

export function empty(text) {
  return h('p', { class: 'empty' }, text);
}

/** A problem+json (or any error) as a visible, announced message: title, code and detail. */
export function problem(err) {
  const box = h('div', { class: 'problem', role: 'alert' });
  const title = err && err.title ? err.title : 'Error';
  box.append(h('strong', {}, title));
  if (err && err.code) box.append(' ', h('code', { class: 'code' }, err.code));
  if (err && err.status) box.append(' ', h('span', { class: 'status' }, `(${err.status})`));
  const detail = err && (err.detail || err.message);
  if (detail) box.append(h('div', { class: 'detail' }, detail));
  if (err && Array.isArray(err.errors) && err.errors.length) {
    box.append(h('ul', {}, err.errors.map((e) => h('li', {}, describeEntry(e)))));
  }
  return box;
}

function describeEntry(e) {
  if (e === null || typeof e !== 'object') return String(e);
  const where = [];
  if (e.field) where.push(e.field);
  if (e.policy_id) where.push(`policy ${e.policy_id}`);
  if (e.line !== undefined && e.line !== null) where.push(`line ${e.line}, column ${e.column ?? '?'}`);
  if (e.index !== undefined) where.push(`#${e.index}`);
  const head = where.length ? `${where.join(', ')}: ` : '';
  return `${head}${e.code ? `[${e.code}] ` : ''}${e.message ?? JSON.stringify(e)}`;
}

/** A value as short text for a table cell. */
export function text(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * A table of rows (objects). columns: [key] or [[key, heading, render?]]; default: the union
 * of the rows' keys. render(value, row) returns text or a node.
 */
export function table(rows, columns, attrs = {}) {
  if (!rows || rows.length === 0) return empty(attrs.emptyText || 'Nothing here yet.');
  const cols = (columns || unionKeys(rows)).map((c) => (Array.isArray(c) ? c : [c, c]));
  const t = h('table', { class: attrs.class || 'data' },
    attrs.caption ? h('caption', {}, attrs.caption) : null,
    h('thead', {}, h('tr', {}, cols.map(([, heading]) => h('th', { scope: 'col' }, heading)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, cols.map(([key, , render]) => {
      const value = row[key];
      const shown = render ? render(value, row) : text(value);
      return h('td', {}, shown);
    })))));
  return h('div', { class: 'table-wrap' }, t);
}

function unionKeys(rows) {
  const keys = [];
  for (const row of rows) for (const k of Object.keys(row || {})) if (!keys.includes(k)) keys.push(k);
  return keys;
}

/** An object's fields as a definition list. */
export function kv(obj) {
  const dl = h('dl', { class: 'kv' });
  for (const [k, v] of Object.entries(obj || {})) {
    dl.append(h('dt', {}, k), h('dd', {}, text(v)));
  }
  return dl;
}

/** A section with a heading. */
export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

/**
 * A modal confirmation (<dialog>): resolves true when confirmed. Keyboard: Escape cancels,
 * the confirm button takes the focus.
 */
export function confirmDialog(title, message, confirmText = 'Confirm') {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'button', class: 'danger', 'data-test': 'confirm' }, confirmText);
    const no = h('button', { type: 'button', 'data-test': 'cancel' }, 'Cancel');
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'dialog-title' },
      h('h2', { id: 'dialog-title' }, title),
      h('p', {}, message),
      h('div', { class: 'actions' }, no, yes));
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    yes.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    yes.focus();
  });
}

/** Offers bytes as a file download (a blob URL, revoked after use). */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, class: 'hidden' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** A short relative description of an RFC 3339 time. */
export function when(t) {
  if (!t) return '—';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
