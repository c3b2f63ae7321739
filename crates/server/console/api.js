// Steward console: the API client and the session. The credential lives in memory and in
// sessionStorage (this tab only, gone when it closes): never in a URL, a cookie or a log.

const STORE = 'steward.console.session';

/** The signed-in session: {token, tenant, who} or null. */
let session = null;

export function load() {
  try {
    const raw = sessionStorage.getItem(STORE);
    session = raw ? JSON.parse(raw) : null;
  } catch {
    session = null;
  }
  return session;
}

export function current() {
  return session;
}

export function save(next) {
  session = next;
  sessionStorage.setItem(STORE, JSON.stringify(next));
}

export function signOut() {
  session = null;
  sessionStorage.removeItem(STORE);
}

/** An error answer of the API: the problem+json fields (title, code, detail, errors, field). */
export class ApiProblem extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.title = (body && body.title) || `HTTP ${status}`;
    this.code = body && body.code;
    this.detail = body && body.detail;
    this.field = body && body.field;
    this.errors = (body && body.errors) || [];
  }
}

/** The tenant-relative path: t('/keys') → /v1/tenants/{tenant}/keys. */
export function t(rest, tenant) {
  const id = tenant || (session && session.tenant);
  return `/v1/tenants/${encodeURIComponent(id)}${rest}`;
}

export function seg(text) {
  return encodeURIComponent(String(text));
}

/**
 * Calls the API. opts: {method, body (JSON unless a string), contentType, accept, raw (return
 * the Response), token (overrides the session's), auth: false (no credential)}.
 */
export async function call(path, opts = {}) {
  const headers = { Accept: opts.accept || 'application/json' };
  const token = opts.token || (session && session.token);
  if (opts.auth !== false && token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (opts.body !== undefined) {
    if (typeof opts.body === 'string') {
      body = opts.body;
      headers['Content-Type'] = opts.contentType || 'text/plain; charset=utf-8';
    } else {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
    }
  }
  let response;
  try {
    response = await fetch(path, {
      method: opts.method || (body === undefined ? 'GET' : 'POST'),
      headers,
      body,
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    throw new ApiProblem(0, { title: 'Network error', code: 'network', detail: 'the server could not be reached' });
  }
  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      problem = { title: response.statusText || `HTTP ${response.status}` };
    }
    throw new ApiProblem(response.status, problem);
  }
  if (opts.raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}

export const get = (path, opts) => call(path, { ...opts, method: 'GET' });
export const post = (path, body, opts) => call(path, { ...opts, method: 'POST', body });
export const put = (path, body, opts) => call(path, { ...opts, method: 'PUT', body });
export const del = (path, opts) => call(path, { ...opts, method: 'DELETE' });

/** Query string from an object (values encoded; undefined/empty skipped). */
export function qs(params) {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
