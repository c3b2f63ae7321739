// End-to-end test of the Steward web console in headless Chromium (Debian's, driven by
// playwright-core). Plain node, no test runner: run by crates/cli/tests/console.rs, which
// starts the server, sets up the data and passes everything by environment:
//   STEWARD_URL, STEWARD_TENANT, STEWARD_KEY (the credential to sign in with),
//   STEWARD_MODE (admin | reader), STEWARD_SCREENSHOTS (a directory),
//   admin mode: STEWARD_ERASE_EXTERNAL_ID, STEWARD_CONSENT_EXTERNAL_ID, STEWARD_MODEL,
//   STEWARD_ALIAS_VERSION. STEWARD_MODE=operator signs in with the operator key (no tenant).
// Prints one JSON line `RESULT {...}` and exits 0, or prints what failed and exits 1.

import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env('STEWARD_URL');
const TENANT = env('STEWARD_TENANT');
const KEY = env('STEWARD_KEY');
const MODE = env('STEWARD_MODE');
const SHOTS = env('STEWARD_SCREENSHOTS');
const STORE = 'steward.console.session';
mkdirSync(SHOTS, { recursive: true });

const result = { mode: MODE, pages: [], screenshots: [], timings_ms: {} };
const problems = [];
function check(ok, what) {
  if (!ok) {
    problems.push(what);
    console.error(`FAIL: ${what}`);
  }
}
const started = Date.now();
const lap = (name, since) => { result.timings_ms[name] = Date.now() - since; };

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
const page = await context.newPage();
page.setDefaultTimeout(20000);

// Everything the page reports: console errors, uncaught exceptions, CSP violations.
// Failed loads the test provokes on purpose (Chromium logs each as a console error): by URL part.
const consoleErrors = [];
const expectedFailures = [];
let collecting = true;
page.on('console', (msg) => {
  const text = msg.text();
  const url = (msg.location() && msg.location().url) || '';
  if (/^Failed to load resource/.test(text) && expectedFailures.some((part) => url.includes(part))) return;
  if (collecting && (msg.type() === 'error' || /Content Security Policy/i.test(text))) {
    consoleErrors.push(`${msg.type()}: ${text} ${url}`);
  }
});
page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
await page.addInitScript(() => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
  });
});

async function settle() {
  await page.waitForFunction(() => !document.querySelector('#page .loading'), null, { timeout: 30000 });
}

async function shot(name) {
  const file = join(SHOTS, `${MODE}-${String(result.screenshots.length + 1).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  result.screenshots.push(file);
}

async function credentialNowhere(where) {
  const state = await page.evaluate((key) => ({
    cookie: document.cookie.includes(key) || document.cookie.length > 0,
    href: location.href.includes(key),
    local: Object.keys(localStorage).some((k) => (localStorage.getItem(k) || '').includes(key)),
    localLength: localStorage.length,
  }), KEY);
  check(!state.cookie, `${where}: the key (or any cookie) is in document.cookie`);
  check(!state.href, `${where}: the key is in location.href`);
  check(!state.local && state.localLength === 0, `${where}: localStorage is used`);
}

async function goto(id) {
  await page.click(`#nav a[data-page="${id}"]`);
  await page.waitForSelector(`#page .page[data-page="${id}"]`);
  await settle();
}

try {
  // --- the page itself and its headers
  let t = Date.now();
  const response = await page.goto(`${BASE}/console`);
  const csp = response.headers()['content-security-policy'] || '';
  check(response.status() === 200, `/console answered ${response.status()}`);
  check(csp.includes("script-src 'self'") && csp.includes("frame-ancestors 'none'") && !csp.includes('unsafe-inline'), `CSP header: ${csp}`);
  check(response.headers()['x-content-type-options'] === 'nosniff', 'nosniff header');
  result.csp = csp;
  await shot('sign-in');

  // --- a refused sign-in shows the problem (reader run only)
  if (MODE === 'reader') {
    expectedFailures.push('/whoami');
    await page.fill('#tenant', TENANT);
    await page.fill('#credential', 'stw_k_aaaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb');
    await page.click('#sign-in-form button[type=submit]');
    await page.waitForSelector('#sign-in-out .problem');
    const refused = await page.textContent('#sign-in-out .problem');
    check(/unauthenticated/.test(refused), `a wrong key is refused on the page: ${refused}`);
    await page.fill('#tenant', '');
    await page.click('#sign-in-form button[type=submit]');
    await page.waitForSelector('#sign-in-out .problem:has-text("missing_tenant")');
    await shot('sign-in-refused');
  }

  // --- sign in
  await page.fill('#tenant', MODE === 'operator' ? '' : TENANT);
  await page.fill('#credential', KEY);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#nav a');
  lap('sign_in', t);
  await credentialNowhere('after sign-in');
  const navIds = await page.$$eval('#nav a', (as) => as.map((a) => a.dataset.page));
  result.pages = navIds;
  const who = await page.textContent('#who');
  result.who = who;

  if (MODE === 'admin') {
    for (const id of ['keys', 'schemas', 'policies', 'consent', 'requests', 'audit', 'sql', 'datasets', 'models', 'experiments', 'health']) {
      check(navIds.includes(id), `admin sees the ${id} page`);
    }
    check(!navIds.includes('tenants'), 'a tenant admin is offered no tenants page (operator only)');

    // --- erasure: file it, watch it reach done in the page, verify the receipt
    t = Date.now();
    await goto('requests');
    await page.fill('input[name=external_id]', env('STEWARD_ERASE_EXTERNAL_ID'));
    await page.click('button[data-action="file-erasure"]');
    await page.waitForSelector('dialog[open] [data-test=confirm]');
    await shot('erasure-confirm');
    await page.click('dialog[open] [data-test=confirm]');
    await page.waitForSelector('[data-test=erasure-state]');
    const seen = new Set();
    const deadline = Date.now() + 120000;
    let state = '';
    while (Date.now() < deadline) {
      state = (await page.textContent('[data-test=erasure-state]')) || '';
      seen.add(state);
      if (state === 'done') break;
      await page.waitForTimeout(200);
    }
    result.erasure_states_seen = [...seen];
    check(state === 'done', `the erasure reached done in the page (last state ${state})`);
    lap('erasure_to_done', t);
    await shot('erasure-done');
    if (state === 'done') {
      await page.click('[data-test=verify-receipt]');
      await page.waitForSelector('[data-test=receipt-check]');
      const ok = await page.getAttribute('[data-test=receipt-check]', 'data-ok');
      const checks = await page.$$eval('[data-test=receipt-check] li', (lis) => lis.map((li) => li.textContent));
      result.receipt_checks = checks;
      check(ok === 'true', `the receipt verifies in the browser: ${checks.join('; ')}`);
      check(checks.length >= 5, `the receipt check covers signature, key, proof, state and subject: ${checks.length}`);
      const download = page.waitForEvent('download');
      await page.click('text=Download receipt');
      const file = await download;
      result.receipt_download = file.suggestedFilename();
      await shot('erasure-receipt');
    }

    // --- SQL: a query, rows in the table
    t = Date.now();
    await goto('sql');
    await page.selectOption('select[name=purpose]', 'analytics');
    await page.click('button[data-action="run-sql"]:text("Run")');
    await page.waitForSelector('[data-test=sql-results] table tbody tr, [data-test=sql-results] .empty, #page .problem');
    const rows = await page.$$eval('[data-test=sql-results] table tbody tr', (trs) => trs.length);
    result.sql_rows = rows;
    check(rows > 0, `the SQL workbench shows rows (${rows})`);
    const csv = page.waitForEvent('download');
    await page.click('button[data-action="run-sql"]:text("Export CSV")');
    const csvFile = await csv;
    const csvPath = join(SHOTS, 'query.csv');
    await csvFile.saveAs(csvPath);
    const csvText = readFileSync(csvPath, 'utf8');
    result.csv_head = csvText.split('\n')[0];
    check(csvText.split('\n')[0] === 'type,events' && csvText.trim().split('\n').length === rows + 1, `the CSV export has the header and every row: ${JSON.stringify(csvText.slice(0, 80))}`);
    lap('sql', t);
    await shot('sql');

    // --- models: move an alias through the confirmation dialog
    t = Date.now();
    await goto('models');
    const model = env('STEWARD_MODEL');
    const version = env('STEWARD_ALIAS_VERSION');
    await page.click(`button[data-test=model-link]:text("${model}")`);
    await page.waitForSelector('button[data-action="move-alias"]');
    await settle();
    await shot('models');
    await page.fill('form:has(button[data-action="move-alias"]) input[name=alias]', 'production');
    await page.selectOption('form:has(button[data-action="move-alias"]) select[name=version]', version);
    await page.click('button[data-action="move-alias"]');
    await page.waitForSelector('dialog[open] [data-test=confirm]');
    await shot('models-confirm');
    await page.click('dialog[open] [data-test=confirm]');
    await page.waitForFunction((v) => [...document.querySelectorAll('[data-test=alias-version]')].some((e) => e.textContent === v), version, { timeout: 20000 });
    const api = await fetch(`${BASE}/v1/tenants/${TENANT}/models/${model}`, { headers: { Authorization: `Bearer ${KEY}` } }).then((r) => r.json());
    result.alias_after = api.aliases && api.aliases.production;
    check(api.aliases && api.aliases.production && String(api.aliases.production.version) === version, `the API shows production at ${version}: ${JSON.stringify(api.aliases)}`);
    lap('move_alias', t);
    await shot('models-moved');

    // --- audit: verify the log in the browser
    await goto('audit');
    await page.click('[data-test=verify-audit]');
    await page.waitForSelector('[data-test=audit-check]', { timeout: 30000 });
    const auditOk = await page.getAttribute('[data-test=audit-check]', 'data-ok');
    result.audit_checks = await page.$$eval('[data-test=audit-check] li', (lis) => lis.map((li) => li.textContent));
    check(auditOk === 'true', `the audit log verifies in the browser: ${result.audit_checks.join('; ')}`);
    await shot('audit-verified');
  }

  if (MODE === 'admin') {
    // --- keys: a new key's secret is shown once (and kept nowhere), then revoked
    await goto('keys');
    await page.fill('input[name=name]', 'console-made');
    await page.selectOption('select[name=role]', 'reader');
    await page.fill('input[name=purposes]', 'analytics');
    await page.click('button[data-action="create-key"]');
    await page.waitForSelector('[data-test=secret]');
    const secret = (await page.textContent('[data-test=secret]')) || '';
    check(/^stw_k_/.test(secret), `a new key's secret is shown once (${secret.slice(0, 6)}…)`);
    const kept = await page.evaluate((sec) => JSON.stringify({ ...sessionStorage }).includes(sec) || JSON.stringify({ ...localStorage }).includes(sec), secret);
    check(!kept, 'the new key\'s secret is kept in no storage');
    await shot('keys-created');
    await page.waitForSelector('tr:has-text("console-made") button[data-action="revoke-key"]');
    await page.click('tr:has-text("console-made") button[data-action="revoke-key"]');
    await page.click('dialog[open] [data-test=confirm]');
    await page.waitForFunction(() => [...document.querySelectorAll('tr')].some((tr) => tr.textContent.includes('console-made') && !tr.querySelector('[data-action="revoke-key"]')));
    const revoked = await fetch(`${BASE}/v1/tenants/${TENANT}/whoami`, { headers: { Authorization: `Bearer ${secret}` } });
    check(revoked.status === 401, `the revoked key is refused (${revoked.status})`);

    // --- schemas: the server's field-precise error shown inline
    await goto('schemas');
    await page.click('#page table button.link:text("play")');
    await page.waitForSelector('textarea[name=schema]');
    await page.fill('textarea[name=schema]', JSON.stringify({ fields: { track_id: { type: 'strng', class: 'public' } } }, null, 2));
    expectedFailures.push(`/v1/tenants/${TENANT}/schemas/play`);
    await page.click('button[data-action="save-schema"]:text("Save new version")');
    await page.waitForSelector('.inline-errors .problem');
    const fieldAt = await page.$eval('.inline-errors', (e) => e.textContent);
    result.schema_error = fieldAt;
    check(await page.$('[data-test=error-field]') !== null, `the schema error names its field inline: ${fieldAt}`);
    check(await page.getAttribute('textarea[name=schema]', 'aria-invalid') === 'true', 'the schema editor is marked invalid');
    await shot('schemas-error');

    // --- policies: a draft with a syntax error, validated with line and column
    await goto('policies');
    await page.waitForFunction(() => document.querySelector('textarea[name=policies]').value.length > 0);
    const draft = 'permit (principal, action, resource);\n\npermit (principal, action resource);\n';
    await page.fill('textarea[name=policies]', draft);
    expectedFailures.push(`/v1/tenants/${TENANT}/policies/check`);
    await page.click('button[data-action="save-policies"]:text("Validate")');
    await page.waitForSelector('#page .problem');
    const diagnostics = await page.$$eval('[data-test=diagnostic]', (bs) => bs.map((b) => b.textContent));
    result.policy_diagnostics = diagnostics;
    check(diagnostics.length > 0 && /line \d+, column \d+/.test(diagnostics[0]), `policy diagnostics with line and column: ${diagnostics.join('; ')}`);
    check(diagnostics.some((d) => d.startsWith('line 3')), `the diagnostic points at line 3: ${diagnostics.join('; ')}`);
    await shot('policies-invalid');

    // --- consent: look up one subject (external id in a body), record an opt-out
    await goto('consent');
    await page.fill('input[name=external_id]', env('STEWARD_CONSENT_EXTERNAL_ID'));
    await page.click('#page form button[type=submit]');
    await page.waitForSelector('button[data-action="change-consent"]');
    await page.selectOption('select[name=purpose]', 'analytics');
    await page.selectOption('select[name=granted]', 'false');
    await page.click('button[data-action="change-consent"]');
    await page.waitForFunction(() => [...document.querySelectorAll('#page table tbody tr')].some((tr) => tr.textContent.includes('analytics') && tr.textContent.includes('no')));
    check(!page.url().includes('@'), 'the external id is not in the URL');
    await shot('consent-changed');

    // --- access request: the archive downloads
    await goto('requests');
    const archive = page.waitForEvent('download');
    await page.fill('form:has(button[data-action="file-access"]) input[name=external_id]', env('STEWARD_CONSENT_EXTERNAL_ID'));
    await page.click('button[data-action="file-access"]');
    const file = await archive;
    result.access_archive = file.suggestedFilename();
    check(file.suggestedFilename().endsWith('.tar'), 'the access request archive downloads');
  }

  if (MODE === 'admin') {
    // --- data sets: diff two versions
    await goto('datasets');
    await page.click('#page table button.link:text("plays")');
    await page.waitForSelector('#page form:has(select[name=from])');
    await page.selectOption('select[name=from]', '1');
    await page.selectOption('select[name=to]', '2');
    await page.click('#page form:has(select[name=from]) button[type=submit]');
    await page.waitForSelector('[data-test=dataset-diff], #page .problem');
    const diff = await page.textContent('#page .form-out');
    result.dataset_diff = diff;
    check(await page.$('[data-test=dataset-diff]') !== null, `the data set diff shows: ${diff}`);
    await page.waitForSelector('#page svg.chart');
    await shot('datasets-diff');

    // --- audit: a principal report of this key
    await goto('audit');
    await page.click('form:has(input[name=principal]) button[type=submit]');
    await page.waitForSelector('form:has(input[name=principal]) table tbody tr');
    const reported = await page.$$eval('form:has(input[name=principal]) table tbody tr', (trs) => trs.length);
    result.principal_report_rows = reported;
    check(reported > 0, `the principal report lists this key's actions (${reported})`);
    await shot('audit-principal-report');

    // --- experiments: the per-arm chart, then stop through the confirmation dialog
    await goto('experiments');
    await page.click('#page table button.link:text("homepage")');
    await page.waitForSelector('button[data-action="stop-experiment"]');
    check(await page.$('#page svg.chart') !== null, 'the experiment chart is drawn');
    await page.click('button[data-action="stop-experiment"]');
    await page.click('dialog[open] [data-test=confirm]');
    await page.waitForFunction(() => !document.querySelector('button[data-action="stop-experiment"]') && document.querySelector('#page dl.kv'), null, { timeout: 20000 });
    const expState = await page.textContent('#page dl.kv');
    result.experiment_after_stop = expState;
    check(/stopped|concluded|ended/.test(expState), `the experiment is stopped: ${expState}`);
    await shot('experiment-stopped');
  }

  if (MODE === 'operator') {
    check(navIds.includes('tenants') && navIds.includes('keys'), `the operator sees tenants and keys: ${navIds}`);
    check(!navIds.includes('sql') && !navIds.includes('requests'), 'the operator is offered no data pages');
    await goto('tenants');
    await page.fill('#page input[name=tenant]', 'made-in-console');
    await page.click('button[data-action="create-tenant"]');
    await page.waitForSelector('[data-test=secret]');
    const admin = (await page.textContent('[data-test=secret]')) || '';
    check(/^stw_k_/.test(admin), 'the new tenant\'s admin key is shown once');
    await page.waitForSelector('#page td:text("made-in-console")');
    await shot('tenant-created');
  }

  if (MODE === 'officer') {
    for (const id of ['consent', 'requests', 'audit', 'sql', 'schemas', 'health']) {
      check(navIds.includes(id), `a privacy officer sees the ${id} page: ${navIds}`);
    }
    for (const id of ['keys', 'policies', 'tenants', 'models', 'experiments', 'datasets']) {
      check(!navIds.includes(id), `a privacy officer is offered no ${id} page`);
    }
  }

  if (MODE === 'reader') {
    for (const id of ['keys', 'policies', 'consent', 'requests', 'audit', 'tenants']) {
      check(!navIds.includes(id), `a reader is offered no ${id} page`);
    }
  }

  // --- every page: rendered without an error, screenshot; what each offers
  const offered = {};
  for (const id of navIds) {
    t = Date.now();
    await goto(id);
    // Open the first item of list pages, so the detail (charts) is in the screenshot.
    const first = await page.$('#page table button.link');
    if (first && ['datasets', 'models', 'experiments', 'schemas'].includes(id)) {
      await first.click();
      await settle();
    }
    if (id === 'health') {
      await page.waitForSelector('#page svg.chart');
      await page.waitForTimeout(3500);
      await settle();
    }
    const errors = await page.$$eval('#page .problem', (ps) => ps.map((p) => p.textContent));
    check(errors.length === 0, `page ${id} shows a problem: ${errors.join(' | ')}`);
    offered[id] = await page.$$eval('[data-action]', (els) => [...new Set(els.map((e) => e.dataset.action))]);
    lap(`page_${id}`, t);
    await shot(id);
  }
  result.actions_offered = offered;
  if (MODE === 'officer') {
    const allowed = ['change-consent', 'file-erasure', 'file-access', 'run-sql'];
    const extra = [...new Set(Object.values(offered).flat())].filter((a) => !allowed.includes(a));
    check(extra.length === 0, `a privacy officer is offered only subject requests and reads: ${extra.join(', ')}`);
  }
  await credentialNowhere('after visiting every page');

  if (MODE === 'reader') {
    const allActions = [...new Set(Object.values(offered).flat())];
    const adminish = allActions.filter((a) => a !== 'run-sql');
    check(adminish.length === 0, `a reader is offered admin actions: ${adminish.join(', ')}`);
    check(allActions.includes('run-sql'), 'a reader may run SQL');
    // The server refuses admin routes to this key, even called from the page itself.
    collecting = false; // the refusals below are logged by Chromium as failed loads
    const statuses = await page.evaluate(async ({ tenant, store }) => {
      const { token } = JSON.parse(sessionStorage.getItem(store));
      const call = (method, path, body) => fetch(path, {
        method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: body ? JSON.stringify(body) : undefined,
      }).then(async (r) => ({ status: r.status, code: (await r.json().catch(() => ({}))).code }));
      return {
        create_key: await call('POST', `/v1/tenants/${tenant}/keys`, { name: 'sneaky', role: 'admin' }),
        list_keys: await call('GET', `/v1/tenants/${tenant}/keys`),
        erase: await call('POST', `/v1/tenants/${tenant}/erasures`, { external_id: 'someone@example.org', now: true }),
        move_alias: await call('PUT', `/v1/tenants/${tenant}/models/recs/aliases/production`, { version: 1 }),
        put_policies: await call('PUT', `/v1/tenants/${tenant}/policies`, undefined),
        audit_head: await call('GET', `/v1/tenants/${tenant}/audit/head`),
      };
    }, { tenant: TENANT, store: STORE });
    result.admin_calls_from_page = statuses;
    for (const [what, r] of Object.entries(statuses)) {
      check(r.status === 403, `${what} with the reader key from the page: ${r.status} ${r.code}`);
    }
  }

  // Sign out: the credential leaves the tab's storage and the sign-in form is back.
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in-form', { state: 'visible' });
  const left = await page.evaluate((key) => JSON.stringify({ ...sessionStorage }).includes(key), KEY);
  check(!left, 'signing out removes the credential from sessionStorage');
  check(await page.$('#nav a') === null || !(await page.isVisible('#nav')), 'signing out hides the pages');

  const violations = await page.evaluate(() => window.__csp);
  check(violations.length === 0, `CSP violations: ${violations.join('; ')}`);
  check(consoleErrors.length === 0, `console errors: ${consoleErrors.join(' | ')}`);
  result.console_errors = consoleErrors;
} catch (err) {
  problems.push(`exception: ${err.stack || err}`);
  console.error(err);
  try { await shot('failure'); } catch {}
} finally {
  await browser.close();
}
result.total_ms = Date.now() - started;
result.problems = problems;
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(problems.length ? 1 : 0);
