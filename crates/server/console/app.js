// Steward console: sign-in, navigation and page lifecycle. Pages are chosen by the URL's
// fragment (#/sql); the credential never appears in it.

import { h, replace, problem, loading } from './dom.js';
import * as api from './api.js';
import { PAGES, roles, resetState } from './pages.js';

const $ = (id) => document.getElementById(id);
let leaving = [];

/** Asks the server who the credential is: whoami in the tenant, or the tenant list (operator). */
async function identify(token, tenant) {
  if (!tenant) {
    // Only the operator works outside a tenant: the server decides by answering the list.
    await api.get('/v1/tenants', { token });
    return { kind: 'operator', principal: 'operator', roles: [] };
  }
  return api.get(api.t('/whoami', tenant), { token });
}

async function signIn(event) {
  event.preventDefault();
  const out = $('sign-in-out');
  const token = $('credential').value.trim();
  const tenant = $('tenant').value.trim();
  if (!token) {
    replace(out, problem({ title: 'A key or token is needed', code: 'missing_credential' }));
    $('credential').setAttribute('aria-invalid', 'true');
    return;
  }
  if (!tenant && !token.startsWith('stw_op_')) {
    replace(out, problem({ title: 'Which tenant?', code: 'missing_tenant', detail: 'A tenant key or JWT works in its own tenant: enter the tenant id (only the operator key signs in without one).' }));
    $('tenant').setAttribute('aria-invalid', 'true');
    $('tenant').focus();
    return;
  }
  $('tenant').removeAttribute('aria-invalid');
  $('credential').removeAttribute('aria-invalid');
  replace(out, loading('Signing in'));
  try {
    const who = await identify(token, tenant);
    api.save({ token, tenant: who.tenant || null, who });
    $('credential').value = '';
    replace(out);
    start();
  } catch (err) {
    replace(out, problem(err.status === 404 ? { ...err, detail: 'No such tenant for this credential.' } : err));
  }
}

function visiblePages(who) {
  const mine = roles(who);
  return PAGES.filter((p) => p.who.some((r) => mine.includes(r)));
}

function start() {
  const session = api.current();
  if (!session) {
    $('sign-in').classList.remove('hidden');
    $('nav').classList.add('hidden');
    $('sign-out').classList.add('hidden');
    replace($('who'));
    replace($('page'));
    $('credential').focus();
    return;
  }
  $('sign-in').classList.add('hidden');
  $('sign-out').classList.remove('hidden');
  const who = session.who;
  replace($('who'), who.kind === 'operator' ? 'operator' : `${who.principal} · ${roles(who).join(', ')} · tenant ${session.tenant}`);
  const pages = visiblePages(who);
  replace($('nav'), h('ul', { class: 'plain' }, pages.map((p) => h('li', {}, h('a', { href: `#/${p.id}`, 'data-page': p.id }, p.title)))));
  $('nav').classList.remove('hidden');
  route();
}

function route() {
  const session = api.current();
  if (!session) return;
  const pages = visiblePages(session.who);
  const id = (location.hash.match(/^#\/([a-z-]+)/) || [])[1];
  const page = pages.find((p) => p.id === id) || pages[0];
  leaving.forEach((fn) => fn());
  leaving = [];
  for (const a of $('nav').querySelectorAll('a')) {
    if (a.dataset.page === page.id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${page.title} · Steward console`;
  const root = h('div', { class: 'page', 'data-page': page.id });
  replace($('page'), h('h1', {}, page.title), root);
  const ctx = {
    who: session.who,
    tenant: session.tenant,
    onLeave: (fn) => leaving.push(fn),
  };
  Promise.resolve(page.render(root, ctx)).catch((err) => root.append(problem(err)));
  $('main').focus({ preventScroll: true });
}

function signOut() {
  leaving.forEach((fn) => fn());
  leaving = [];
  api.signOut();
  resetState();
  history.replaceState(null, '', location.pathname);
  start();
}

document.addEventListener('DOMContentLoaded', () => {
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  api.load();
  start();
});
