// Steward console: the pages. Each page renders into its root from the JSON API; every
// control that changes something is offered only to the roles the default policies allow
// (`can`), and carries data-action so tests can look for it. The server still decides.

import { h, replace, field, input, select, button, loading, empty, problem, table, kv, section, text, confirmDialog, download, when } from './dom.js';
import * as api from './api.js';
import { bars, grouped, lines, graph } from './charts.js';
import { verifyReceipt, verifyAudit } from './verify.js';

const TENANT_ROLES = ['admin', 'writer', 'reader', 'privacy_officer'];

/** Which roles the default policies let do each thing the console offers. */
const CAN = {
  'create-tenant': ['operator'],
  'create-key': ['operator', 'admin'],
  'revoke-key': ['operator', 'admin'],
  'save-schema': ['admin'],
  'save-policies': ['admin'],
  'change-consent': ['admin', 'privacy_officer'],
  'file-erasure': ['admin', 'privacy_officer'],
  'file-access': ['admin', 'privacy_officer'],
  'move-alias': ['admin'],
  'stop-experiment': ['admin'],
  'run-sql': ['admin', 'reader', 'privacy_officer'],
};

/** The purposes each role reads for under the default policies (admins: all). */
const PURPOSES = {
  admin: ['analytics', 'model_training', 'personalization', 'support', 'security', 'legal'],
  reader: ['analytics', 'model_training', 'personalization', 'support'],
  privacy_officer: ['support', 'security', 'legal', 'analytics'],
  writer: [],
};

export function roles(who) {
  if (!who) return [];
  if (who.kind === 'operator') return ['operator'];
  return who.roles || (who.role ? [who.role] : []);
}

export function can(who, action) {
  const allowed = CAN[action] || [];
  return roles(who).some((r) => allowed.includes(r));
}

/** The purposes this principal may read for: its roles', narrowed by the key's scope. */
export function purposes(who) {
  const set = new Set(roles(who).flatMap((r) => PURPOSES[r] || []));
  const scope = who && who.purposes && who.purposes.length ? who.purposes : null;
  return [...set].filter((p) => !scope || scope.includes(p));
}

/** Runs an async loader into a container with loading and error states. */
async function into(container, loader) {
  replace(container, loading());
  try {
    const node = await loader();
    replace(container, node ?? empty('Nothing here yet.'));
  } catch (err) {
    replace(container, problem(err));
  }
}

/** A form: fields, a submit button, and an output area for its result or problem. */
function form(fields, submitText, onsubmit, attrs = {}) {
  const out = h('div', { class: 'form-out', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: attrs.danger ? 'danger' : 'primary', 'data-action': attrs.action }, submitText);
  const f = h('form', { class: 'form', novalidate: true }, fields, h('div', { class: 'actions' }, submit), out);
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    replace(out, loading('Working'));
    try {
      const node = await onsubmit(out);
      if (node !== undefined) replace(out, node ?? '');
    } catch (err) {
      replace(out, problem(err));
    } finally {
      submit.disabled = false;
    }
  });
  return f;
}

function firstArray(obj) {
  if (Array.isArray(obj)) return obj;
  for (const v of Object.values(obj || {})) if (Array.isArray(v)) return v;
  return [];
}

// ---- tenants (operator) ----------------------------------------------------------------------

async function tenantsPage(root, ctx) {
  const list = h('div');
  const refresh = () => into(list, async () => {
    const r = await api.get('/v1/tenants');
    return table(r.tenants, [['id', 'Tenant'], ['created_at', 'Created', when]], { emptyText: 'No tenants yet.' });
  });
  root.append(section('Tenants', list));
  if (can(ctx.who, 'create-tenant')) {
    const id = input({ name: 'tenant', required: true, pattern: '[a-z0-9-]+' });
    root.append(section('Create a tenant', form([field('Tenant id', id, 'lowercase letters, digits and dashes')], 'Create tenant', async () => {
      const r = await api.post('/v1/tenants', { id: id.value.trim() });
      refresh();
      const { admin_key: admin, ...rest } = r;
      return secretBox('The tenant\'s first admin key', admin && admin.secret, { ...rest, key_id: admin && admin.id });
    }, { action: 'create-tenant' })));
  }
  refresh();
}

/** A secret shown once: selectable text, never stored by the console. */
function secretBox(title, secret, rest) {
  return h('div', { class: 'secret', role: 'status' },
    h('strong', {}, title),
    h('p', {}, 'Shown once: copy it now. The console does not keep it.'),
    secret ? h('code', { class: 'secret-value', 'data-test': 'secret', tabindex: 0 }, secret) : null,
    rest ? kv(Object.fromEntries(Object.entries(rest).filter(([k, v]) => typeof v !== 'string' || !v.startsWith('stw_')))) : null);
}

// ---- keys ------------------------------------------------------------------------------------

async function tenantPicker(ctx, onchange) {
  if (ctx.who.kind !== 'operator') return null;
  const r = await api.get('/v1/tenants');
  const pick = select(r.tenants.map((x) => x.id), { name: 'tenant' });
  pick.addEventListener('change', () => onchange(pick.value));
  return { node: field('Tenant', pick), value: () => pick.value };
}

async function keysPage(root, ctx) {
  let tenant = ctx.tenant;
  const list = h('div');
  const picker = await tenantPicker(ctx, (v) => { tenant = v; refresh(); });
  if (picker) {
    tenant = picker.value();
    root.append(section('Tenant', picker.node));
  }
  if (!tenant) {
    root.append(empty('No tenant to manage keys for: create one first.'));
    return;
  }
  const refresh = () => into(list, async () => {
    const r = await api.get(api.t('/keys', tenant));
    const cols = [['id', 'Id'], ['name', 'Name'], ['role', 'Role'], ['purposes', 'Purposes', (p) => (p && p.length ? p.join(', ') : 'any its role allows')],
      ['created_at', 'Created', when], ['expires_at', 'Expires', when], ['revoked_at', 'Revoked', when]];
    if (can(ctx.who, 'revoke-key')) {
      cols.push(['', 'Actions', (_, row) => (row.revoked_at ? '' : button('Revoke', async () => {
        if (!(await confirmDialog('Revoke this key?', `Key ${row.name} (${row.id}) stops working at once.`, 'Revoke'))) return;
        try {
          await api.del(api.t(`/keys/${api.seg(row.id)}`, tenant));
          refresh();
        } catch (err) {
          list.prepend(problem(err));
        }
      }, { class: 'danger small', 'data-action': 'revoke-key', 'aria-label': `Revoke key ${row.name}` }))]);
    }
    return table(r.keys, cols, { emptyText: 'No keys.' });
  });
  root.append(section('API keys', list));
  if (can(ctx.who, 'create-key')) {
    const name = input({ name: 'name', required: true });
    const role = select(TENANT_ROLES, { name: 'role' });
    const scope = input({ name: 'purposes', placeholder: 'e.g. analytics, support' });
    const expires = input({ name: 'expires_at', placeholder: '2027-01-01T00:00:00Z' });
    root.append(section('Create a key', form([
      field('Name', name), field('Role', role),
      field('Purposes scope', scope, 'comma-separated; empty: any purpose its role allows'),
      field('Expires at', expires, 'RFC 3339; empty: never'),
    ], 'Create key', async () => {
      const body = { name: name.value.trim(), role: role.value };
      const p = scope.value.split(',').map((x) => x.trim()).filter(Boolean);
      if (p.length) body.purposes = p;
      if (expires.value.trim()) body.expires_at = expires.value.trim();
      const r = await api.post(api.t('/keys', tenant), body);
      refresh();
      const { secret, ...rest } = r;
      return secretBox('New key', secret, rest);
    }, { action: 'create-key' })));
  }
  refresh();
}

// ---- schemas ---------------------------------------------------------------------------------

async function schemasPage(root, ctx) {
  const list = h('div');
  const editor = h('div');
  const open = (eventType, doc) => {
    const area = h('textarea', { rows: 16, class: 'code', spellcheck: 'false', name: 'schema' });
    area.value = JSON.stringify(doc || { fields: {} }, null, 2);
    const type = input({ name: 'event_type', value: eventType || '' });
    const errorsAt = h('div', { class: 'inline-errors', 'aria-live': 'polite' });
    const children = [field('Event type', type), field('Schema document (JSON)', area), errorsAt];
    if (can(ctx.who, 'save-schema')) {
      children.push(h('div', { class: 'actions' }, button('Save new version', async () => {
        replace(errorsAt);
        area.removeAttribute('aria-invalid');
        let parsed;
        try {
          parsed = JSON.parse(area.value);
        } catch (e) {
          replace(errorsAt, problem({ title: 'Not JSON', code: 'invalid_json', detail: e.message }));
          area.setAttribute('aria-invalid', 'true');
          return;
        }
        try {
          const r = await api.put(api.t(`/schemas/${api.seg(type.value.trim())}`), parsed);
          replace(errorsAt, h('p', { class: 'ok', role: 'status' }, `Saved ${r.event_type} version ${r.version}.`));
          refresh();
        } catch (err) {
          area.setAttribute('aria-invalid', 'true');
          replace(errorsAt, fieldProblem(err));
        }
      }, { class: 'primary', 'data-action': 'save-schema' })));
    } else {
      area.readOnly = true;
      type.readOnly = true;
    }
    replace(editor, section(eventType ? `Schema: ${eventType}` : 'New schema', ...children));
    area.focus();
  };
  const refresh = () => into(list, async () => {
    const r = await api.get(api.t('/schemas'));
    return table(r.schemas, [
      ['event_type', 'Event type', (v, row) => button(v, () => open(v, row.schema), { class: 'link' })],
      ['version', 'Version'],
      ['schema', 'Fields', (sch) => Object.keys((sch && sch.fields) || {}).join(', ')],
    ], { emptyText: 'No schemas yet.' });
  });
  root.append(section('Event schemas', list,
    can(ctx.who, 'save-schema') ? h('div', { class: 'actions' }, button('New schema', () => open('', { fields: { item_id: { type: 'string', class: 'public' } } }), { 'data-action': 'save-schema' })) : null));
  root.append(editor);
  refresh();
}

/** A problem whose `field` names the JSON path: shown as the field, then the message. */
function fieldProblem(err) {
  const box = problem(err);
  if (err.field) box.prepend(h('div', { class: 'field-path' }, 'at ', h('code', { 'data-test': 'error-field' }, err.field)));
  return box;
}

// ---- policies --------------------------------------------------------------------------------

async function policiesPage(root, ctx) {
  const area = h('textarea', { rows: 22, class: 'code', spellcheck: 'false', name: 'policies' });
  const status = h('div', { 'aria-live': 'polite' });
  const versions = h('div');
  const head = h('div');
  const loadVersion = async (v) => {
    replace(status, loading());
    try {
      const r = await api.get(api.t(`/policies${api.qs({ version: v })}`));
      area.value = r.text || '';
      replace(head, kv({ version: r.version, created_at: r.created_at, created_by: r.created_by, default: r.default }));
      replace(status);
    } catch (err) {
      replace(status, problem(err));
    }
  };
  const diagnostics = (err) => {
    const list = (err.errors || []).filter((e) => e.line);
    // Positioned diagnostics are listed once, as links that move the caret there.
    const box = problem({ title: err.title, code: err.code, status: err.status, detail: err.detail, errors: (err.errors || []).filter((e) => !e.line) });
    if (list.length) {
      box.append(h('ol', { class: 'diagnostics' }, list.map((e) => h('li', {},
        button(`line ${e.line}, column ${e.column}`, () => goTo(area, e.line, e.column), { class: 'link', 'data-test': 'diagnostic' }),
        `: ${e.message}${e.policy_id ? ` (${e.policy_id})` : ''}`))));
    }
    return box;
  };
  const validate = async () => {
    replace(status, loading('Validating'));
    try {
      await api.post(api.t('/policies/check'), { role: 'reader', action: 'query', purpose: 'analytics', policies: area.value });
      replace(status, h('p', { class: 'ok', role: 'status' }, 'Valid: the draft parses and validates against the schema.'));
    } catch (err) {
      replace(status, diagnostics(err));
    }
  };
  const save = async () => {
    if (!(await confirmDialog('Replace the policies?', 'The draft takes effect for every request from now on.', 'Save policies'))) return;
    replace(status, loading('Saving'));
    try {
      const r = await api.put(api.t('/policies'), area.value, { contentType: 'text/plain; charset=utf-8' });
      replace(status, h('p', { class: 'ok', role: 'status' }, `Saved as version ${r.version}.`));
      refreshVersions();
    } catch (err) {
      replace(status, diagnostics(err));
    }
  };
  const refreshVersions = () => into(versions, async () => {
    const r = await api.get(api.t('/policies/versions'));
    return table(r.versions, [['version', 'Version', (v) => button(String(v), () => loadVersion(v), { class: 'link' })], ['created_at', 'At', when], ['created_by', 'By'], ['default', 'Default']]);
  });
  const editable = can(ctx.who, 'save-policies');
  area.readOnly = !editable;
  root.append(section('Policies in force', head, field('Cedar policy text', area),
    editable ? h('div', { class: 'actions' },
      button('Validate', validate, { 'data-action': 'save-policies' }),
      button('Save', save, { class: 'primary', 'data-action': 'save-policies' })) : null,
    status));
  root.append(section('Versions', versions));
  loadVersion(undefined);
  refreshVersions();
}

/** Moves the caret of a textarea to a line and column (1-based). */
function goTo(area, line, column) {
  const lines = area.value.split('\n');
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
  offset += Math.max(0, (column || 1) - 1);
  area.focus();
  area.setSelectionRange(offset, offset + 1);
}

// ---- consent ---------------------------------------------------------------------------------

async function consentPage(root, ctx) {
  const ext = input({ name: 'external_id', autocomplete: 'off' });
  const result = h('div');
  let subject = null;
  const show = async () => {
    const r = await api.get(api.t(`/subjects/${api.seg(subject)}/consents`));
    const children = [
      h('p', {}, 'Subject pseudonym: ', h('code', {}, subject)),
      table(r.consents, [['purpose', 'Purpose'], ['granted', 'Granted', (g) => (g ? 'yes' : 'no')], ['source', 'Source'], ['at', 'At', when]], { emptyText: 'No decisions recorded: each purpose follows its regime.', caption: 'In force' }),
      Object.keys(r.regimes || {}).length ? h('div', {}, h('h3', {}, 'Regimes set by the tenant'), kv(r.regimes)) : h('p', { class: 'hint' }, 'Every purpose is opt-out unless the tenant set a regime.'),
      table(r.history, [['purpose', 'Purpose'], ['granted', 'Granted', (g) => (g ? 'yes' : 'no')], ['source', 'Source'], ['at', 'At', when]], { emptyText: 'No history.', caption: 'History' }),
    ];
    if (can(ctx.who, 'change-consent')) {
      const purpose = select(PURPOSES.admin, { name: 'purpose' });
      const granted = select([['false', 'deny (opt out)'], ['true', 'grant']], { name: 'granted' });
      children.push(form([field('Purpose', purpose), field('Decision', granted)], 'Record decision', async () => {
        await api.put(api.t(`/subjects/${api.seg(subject)}/consents/${api.seg(purpose.value)}`), { granted: granted.value === 'true', source: 'api' });
        await into(result, show);
      }, { action: 'change-consent' }));
    }
    return h('div', {}, children);
  };
  root.append(section('Consent for one subject',
    h('p', { class: 'hint' }, 'The external id is sent in a request body, never in a URL.'),
    form([field('External id', ext)], 'Look up', async () => {
      const r = await api.post(api.t('/subjects/resolve'), { external_id: ext.value });
      subject = r.subject;
      await into(result, show);
      return null;
    }), result));
}

// ---- erasure and access requests ------------------------------------------------------------

const STATES = ['received', 'shredded', 'hidden', 'purged', 'derived', 'done'];
/** Erasures filed or followed in this session (with the salt the filing answer carried). */
const tracked = [];

/** Forgets what pages kept for the signed-in principal (called at sign-out). */
export function resetState() {
  tracked.length = 0;
  healthHistory.samples.length = 0;
}

async function requestsPage(root, ctx) {
  const listBox = h('div', { class: 'requests' });
  const timers = new Set();
  ctx.onLeave(() => timers.forEach(clearTimeout));
  const render = () => replace(listBox, tracked.length ? tracked.map(card) : empty('No erasure filed in this session.'));
  const card = (req) => {
    const steps = h('ol', { class: 'steps' }, STATES.map((st) => {
      const seen = (req.status.history || []).find((x) => x.state === st);
      const cls = seen ? 'done' : (STATES.indexOf(st) === STATES.indexOf(req.status.state) + 1 ? 'next' : 'todo');
      return h('li', { class: cls }, st, seen ? h('small', {}, ` ${when(seen.at)}`) : null);
    }));
    const out = h('div', { 'aria-live': 'polite' });
    const actions = [];
    if (req.status.state === 'done') {
      actions.push(
        button('Download receipt', async () => {
          try {
            const r = await api.get(api.t(`/erasures/${api.seg(req.id)}/receipt`));
            download(new Blob([JSON.stringify(r, null, 2)], { type: 'application/json' }), `erasure-${req.id}.receipt.json`);
          } catch (err) { replace(out, problem(err)); }
        }),
        button('Verify receipt', async () => {
          replace(out, loading('Verifying'));
          try {
            const receipt = await api.get(api.t(`/erasures/${api.seg(req.id)}/receipt`));
            const head = await api.get(api.t('/audit/head')).catch(() => null);
            const checks = await verifyReceipt(receipt, { trustedKey: head && head.public_key, salt: req.salt, pseudonym: req.subject });
            replace(out, checkList(checks, 'receipt-check'));
          } catch (err) { replace(out, problem(err)); }
        }, { 'data-test': 'verify-receipt' }));
    }
    return h('article', { class: 'request card', 'data-test': 'erasure' },
      h('h3', {}, 'Erasure ', h('code', {}, req.id)),
      req.error ? problem(req.error) : null,
      h('p', {}, 'State: ', h('strong', { 'data-test': 'erasure-state' }, req.status.state)),
      steps, req.status.rows_removed !== undefined ? kv({ rows_removed: req.status.rows_removed, segments_rewritten: req.status.segments_rewritten, files_removed: req.status.files_removed, derived_artifacts: req.status.derived_artifacts }) : null,
      h('div', { class: 'actions' }, actions), out);
  };
  const poll = (req) => {
    const tick = async () => {
      try {
        req.status = await api.get(api.t(`/erasures/${api.seg(req.id)}`));
        req.error = null;
      } catch (err) {
        req.error = err;
      }
      render();
      // Every 0.7 s while it moves; every 5 s while the server answers with a problem.
      if (req.status.state !== 'done' && root.isConnected) timers.add(setTimeout(tick, req.error ? 5000 : 700));
    };
    tick();
  };
  if (can(ctx.who, 'file-erasure')) {
    const ext = input({ name: 'external_id' });
    const now = h('input', { type: 'checkbox', name: 'now', checked: true });
    root.append(section('File an erasure request',
      h('p', { class: 'hint' }, 'Destroys the subject\'s key at once and removes every row and derived artifact. Follow its states below.'),
      form([field('External id', ext), h('div', { class: 'field inline' }, now, h('label', { for: (now.id = 'erase-now') }, 'Purge now (do not wait for the scheduled purge)'))],
        'File erasure', async () => {
          if (!(await confirmDialog('Erase this subject?', 'This cannot be undone: the subject\'s data becomes unreadable at once.', 'Erase'))) return null;
          const external = ext.value;
          const resolved = await api.post(api.t('/subjects/resolve'), { external_id: external }).catch(() => null);
          const r = await api.post(api.t('/erasures'), { external_id: external, now: now.checked });
          const req = { id: r.id, salt: r.subject_salt, subject: resolved && resolved.subject, status: r };
          tracked.unshift(req);
          ext.value = '';
          poll(req);
          return h('p', { class: 'ok', role: 'status' }, `Filed erasure ${r.id}.`);
        }, { action: 'file-erasure', danger: true })));
  }
  const lookup = input({ name: 'erasure_id', placeholder: '32 hex digits' });
  root.append(section('Follow an erasure by id', form([field('Erasure id', lookup)], 'Follow', async () => {
    const id = lookup.value.trim();
    const status = await api.get(api.t(`/erasures/${api.seg(id)}`));
    if (!tracked.some((x) => x.id === id)) {
      const req = { id, status };
      tracked.unshift(req);
      poll(req);
    }
    return null;
  })));
  root.append(section('Erasures', listBox));
  render();
  tracked.filter((r) => r.status.state !== 'done').forEach(poll);
  if (can(ctx.who, 'file-access')) {
    const ext = input({ name: 'external_id' });
    root.append(section('Access request (GDPR art. 15, 20)', form([field('External id', ext)], 'Download archive', async () => {
      const response = await api.call(api.t('/access-requests'), { method: 'POST', body: { external_id: ext.value }, accept: 'application/x-tar, */*', raw: true });
      const blob = await response.blob();
      download(blob, 'access-request.tar');
      return h('p', { class: 'ok', role: 'status' }, `Archive of ${blob.size} bytes downloaded.`);
    }, { action: 'file-access' })));
  }
}

function checkList(checks, testId) {
  const ok = checks.every((c) => c.ok);
  return h('div', { class: ok ? 'verified' : 'problem', role: ok ? 'status' : 'alert', 'data-test': testId, 'data-ok': String(ok) },
    h('strong', {}, ok ? 'Verified' : 'Verification failed'),
    h('ul', { class: 'checks' }, checks.map((c) => h('li', { class: c.ok ? 'pass' : 'fail' }, `${c.ok ? '✓' : '✗'} ${c.what}${c.detail ? `: ${c.detail}` : ''}`))));
}

// ---- audit -----------------------------------------------------------------------------------

async function auditPage(root, ctx) {
  const headBox = h('div');
  const verifyOut = h('div', { 'aria-live': 'polite' });
  const refresh = () => into(headBox, async () => {
    const r = await api.get(api.t('/audit/head'));
    return h('div', {}, kv({ size: r.size, root: r.root, public_key: r.public_key }),
      r.signed ? h('div', {}, h('h3', {}, 'Latest signed head'), kv({ size: r.signed.size, root: r.signed.root, signed_at: new Date(r.signed.time_us / 1000).toISOString(), signature: r.signed.signature })) : empty('No signed head yet (heads are signed every 10 s).'));
  });
  root.append(section('Audit log', headBox, h('div', { class: 'actions' },
    button('Refresh', refresh),
    button('Verify', async () => {
      replace(verifyOut, loading('Verifying'));
      try {
        replace(verifyOut, checkList(await verifyAudit(ctx.tenant), 'audit-check'));
      } catch (err) { replace(verifyOut, problem(err)); }
    }, { class: 'primary', 'data-test': 'verify-audit' })), verifyOut));
  const ext = input({ name: 'external_id' });
  root.append(section('Subject report', form([field('External id', ext)], 'Report', async () => {
    const r = await api.post(api.t('/audit/reports/subject'), { external_id: ext.value });
    return reportTable(r);
  })));
  const principal = input({ name: 'principal', value: ctx.who.key_id ? `key:${ctx.who.key_id}` : '' });
  const from = input({ name: 'from', placeholder: 'RFC 3339, optional' });
  root.append(section('Principal report', form([field('Principal', principal, 'key:<id> or user:<sub>'), field('From', from)], 'Report', async () => {
    const r = await api.get(api.t(`/audit/reports/principal${api.qs({ principal: principal.value.trim(), from: from.value.trim() })}`));
    return reportTable(r);
  })));
  refresh();
}

function reportTable(r) {
  const rows = firstArray(r);
  const summary = Object.fromEntries(Object.entries(r || {}).filter(([, v]) => !Array.isArray(v) && typeof v !== 'object'));
  return h('div', {}, kv(summary), table(rows.map((x) => (typeof x === 'object' ? x : { value: x })), undefined, { emptyText: 'No records.' }));
}

// ---- SQL -------------------------------------------------------------------------------------

async function sqlPage(root, ctx) {
  const mine = purposes(ctx.who);
  if (!mine.length) {
    root.append(empty('This credential reads for no purpose.'));
    return;
  }
  const purpose = select(mine, { name: 'purpose' });
  const sql = h('textarea', { rows: 6, class: 'code', name: 'sql', spellcheck: 'false' });
  sql.value = 'SELECT type, count(*) AS events FROM events GROUP BY type ORDER BY events DESC';
  const maxRows = input({ name: 'max_rows', type: 'number', value: '1000', min: '1' });
  const out = h('div', { 'aria-live': 'polite' });
  const body = () => ({ sql: sql.value, purpose: purpose.value, max_rows: Number(maxRows.value) || 1000 });
  const run = async () => {
    replace(out, loading('Running'));
    try {
      const started = performance.now();
      const r = await api.post(api.t('/sql'), body());
      const ms = Math.round(performance.now() - started);
      const cols = (r.columns || []).map((c) => [c.name, `${c.name} (${c.type})`]);
      replace(out, h('p', { class: 'meta', 'data-test': 'sql-meta' }, `${r.row_count} row(s) in ${ms} ms for ${purpose.value}`),
        h('div', { 'data-test': 'sql-results' }, table(r.rows, cols, { emptyText: 'The query returned no rows.' })));
    } catch (err) {
      replace(out, problem(err));
    }
  };
  const exportCsv = async () => {
    try {
      const response = await api.call(api.t('/sql'), { method: 'POST', body: body(), accept: 'text/csv', raw: true });
      download(await response.blob(), 'query.csv');
    } catch (err) {
      replace(out, problem(err));
    }
  };
  sql.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); }
  });
  root.append(section('SQL workbench',
    h('div', { class: 'row' }, field('Purpose', purpose, 'what the query reads for; fields it may not see read as NULL'), field('Max rows', maxRows)),
    field('Query', sql, 'Ctrl+Enter runs it. Tables: events, subjects, one per event type.'),
    h('div', { class: 'actions' }, button('Run', run, { class: 'primary', 'data-action': 'run-sql' }), button('Export CSV', exportCsv, { 'data-action': 'run-sql' })),
    out));
}

// ---- data sets -------------------------------------------------------------------------------

async function datasetsPage(root, ctx) {
  const purpose = 'model_training';
  const list = h('div');
  const detail = h('div');
  const lineage = h('div');
  const openSet = (name) => into(detail, async () => {
    const r = await api.get(api.t(`/datasets/${api.seg(name)}/versions${api.qs({ purpose })}`));
    const vs = r.versions || [];
    const from = select(vs.map((v) => String(v.version)), { name: 'from' });
    const to = select(vs.map((v) => String(v.version)), { name: 'to' });
    if (vs.length) to.value = String(vs[vs.length - 1].version);
    return section(`Data set ${name}`,
      table(vs, [['version', 'Version'], ['state', 'State'], ['rows', 'Rows'], ['subjects', 'Subjects'], ['built_at', 'Built', when], ['built_by', 'By'], ['purpose', 'Purpose'], ['query', 'Query'], ['reason', 'Reason'], ['successor', 'Successor'], ['content_sha256', 'Content SHA-256', (x) => (x ? `${String(x).slice(0, 16)}…` : '—')]]),
      vs.length > 1 ? form([h('div', { class: 'row' }, field('From version', from), field('To version', to))], 'Diff', async () => {
        const d = await api.get(api.t(`/datasets/${api.seg(name)}/diff${api.qs({ from: from.value, to: to.value, purpose })}`));
        return h('div', { 'data-test': 'dataset-diff' }, kv(d));
      }) : h('p', { class: 'hint' }, 'One version: nothing to diff.'));
  });
  root.append(section('Data sets', list), detail, section('Lineage: data sets to models', lineage));
  into(list, async () => {
    const r = await api.get(api.t(`/datasets${api.qs({ purpose })}`));
    return table(r.datasets, [['name', 'Name', (v) => button(v, () => openSet(v), { class: 'link' })], ['latest_version', 'Latest version'], ['latest_state', 'State'], ['versions', 'Versions']], { emptyText: 'No data sets yet: cut one with POST /datasets.' });
  });
  into(lineage, async () => {
    const models = (await api.get(api.t('/models'))).models || [];
    const datasets = new Map();
    const modelNodes = [];
    const edges = [];
    for (const m of models) {
      const detailM = await api.get(api.t(`/models/${api.seg(m.name)}`));
      for (const v of detailM.versions || []) {
        const d = v.lineage && v.lineage.dataset;
        const mid = `m:${m.name}@${v.version}`;
        modelNodes.push({ id: mid, label: `${m.name} v${v.version} (${v.state})`, cls: 'model' });
        if (d) {
          const did = `d:${d.name}@${d.version}`;
          datasets.set(did, { id: did, label: `${d.name} v${d.version}`, cls: 'dataset' });
          edges.push([did, mid]);
        }
      }
    }
    if (!modelNodes.length) return empty('No models trained yet.');
    return graph([[...datasets.values()], modelNodes], edges, { title: 'Which data set versions trained which model versions' });
  });
}

// ---- models ----------------------------------------------------------------------------------

const METRICS = ['recall', 'precision', 'ndcg', 'map', 'coverage'];

async function modelsPage(root, ctx) {
  const list = h('div');
  const detail = h('div');
  const openModel = (name) => into(detail, async () => {
    const m = await api.get(api.t(`/models/${api.seg(name)}`));
    const versions = m.versions || [];
    const ready = versions.filter((v) => v.state === 'ready');
    const chosen = ready[ready.length - 1] || versions[versions.length - 1];
    const aliases = Object.entries(m.aliases || {}).map(([alias, a]) => ({ alias, ...a }));
    const children = [
      table(versions, [['version', 'Version'], ['state', 'State'], ['algorithm', 'Algorithm'], ['lineage', 'Data set', (l) => (l && l.dataset ? `${l.dataset.name} v${l.dataset.version}` : '—')], ['metrics', 'recall@k', (mm, row) => metricAt(row, 'recall')], ['finished_at', 'Finished', when]], { caption: 'Versions' }),
      chosen ? metricsChart(chosen) : empty('No version yet.'),
      table(aliases, [['alias', 'Alias'], ['version', 'Version', (v) => h('span', { 'data-test': 'alias-version' }, String(v))], ['previous', 'Previous'], ['moved_at', 'Moved', when], ['moved_by', 'By']], { caption: 'Aliases', emptyText: 'No aliases: serving uses none until one is set.' }),
    ];
    if (can(ctx.who, 'move-alias') && ready.length) {
      const alias = input({ name: 'alias', value: 'production' });
      const version = select(ready.map((v) => String(v.version)), { name: 'version' });
      children.push(form([h('div', { class: 'row' }, field('Alias', alias), field('Version', version))], 'Move alias', async () => {
        const a = alias.value.trim();
        const current = (m.aliases || {})[a];
        const what = current ? `Move ${name}@${a} from version ${current.version} to ${version.value}? Serving switches at once.` : `Point ${name}@${a} at version ${version.value}? Serving switches at once.`;
        if (!(await confirmDialog(current && Number(version.value) < current.version ? 'Roll back?' : 'Deploy?', what, 'Move alias'))) return null;
        await api.put(api.t(`/models/${api.seg(name)}/aliases/${api.seg(a)}`), { version: Number(version.value) });
        openModel(name);
        return null;
      }, { action: 'move-alias' }));
    }
    return section(`Model ${name}`, ...children);
  });
  root.append(section('Models', list), detail);
  into(list, async () => {
    const r = await api.get(api.t('/models'));
    return table(r.models, [['name', 'Name', (v) => button(v, () => openModel(v), { class: 'link', 'data-test': 'model-link' })], ['latest_version', 'Latest'], ['latest_state', 'State'], ['aliases', 'Aliases', (a) => (a && typeof a === 'object' ? Object.entries(a).map(([k, v]) => `${k}→${typeof v === 'object' ? v.version : v}`).join(', ') : text(a))]], { emptyText: 'No models yet.' });
  });
}

function metricAt(version, name) {
  const at = version.metrics && version.metrics.at;
  return at && at[0] ? text(at[0][name]) : '—';
}

function metricsChart(version) {
  const m = version.metrics;
  if (!m || !m.at || !m.at.length) return empty(`Version ${version.version} has no metrics (${version.state}).`);
  const first = m.at[0];
  const base = (m.baseline || []).find((b) => b.k === first.k) || {};
  const groups = METRICS.map((name) => ({ label: name, values: { [`v${version.version}`]: first[name], 'popularity baseline': base[name] } }));
  return h('div', { class: 'chart-box' }, h('h3', {}, `Version ${version.version} at k=${first.k} against the popularity baseline`),
    grouped(groups, [`v${version.version}`, 'popularity baseline'], { title: `metrics of version ${version.version} at k=${first.k}`, max: 1 }));
}

// ---- experiments -----------------------------------------------------------------------------

async function experimentsPage(root, ctx) {
  const list = h('div');
  const detail = h('div');
  const openExp = (name) => into(detail, async () => {
    const r = await api.get(api.t(`/experiments/${api.seg(name)}/results`));
    const arms = r.arms || [];
    const items = arms.map((a) => ({
      label: `${a.name}${a.control ? ' (control)' : ''}`, value: a.rate, low: a.rate_interval && a.rate_interval[0], high: a.rate_interval && a.rate_interval[1],
      cls: a.stopped ? 'stopped' : (a.control ? 'control' : ''),
    }));
    const children = [];
    if (r.srm && r.srm.mismatch) {
      children.push(h('div', { class: 'warning', role: 'alert', 'data-test': 'srm-warning' },
        h('strong', {}, 'Sample ratio mismatch'), ` (p = ${text(r.srm.p_value)} < ${r.srm.threshold}): the arms did not get the traffic their weights ask for; results are suspect.`));
    }
    children.push(kv({ state: r.experiment && r.experiment.state, baseline: r.baseline, subjects: r.subjects, alpha: r.alpha }));
    children.push(arms.some((a) => Number.isFinite(a.rate)) ? bars(items, { title: `conversion rate per arm with ${Math.round((1 - (r.alpha || 0.05)) * 100)}% intervals` }) : empty('No exposures yet.'));
    children.push(table(arms.map((a) => ({ arm: a.name, subjects: a.subjects, conversions: a.conversions, rate: a.rate, lift: a.versus_baseline && a.versus_baseline.lift, p_value: a.versus_baseline && a.versus_baseline.p_value, sequential_p: a.versus_baseline && a.versus_baseline.sequential_p_value, stopped: a.stopped ? 'stopped' : '' }))));
    const running = !r.experiment || !r.experiment.state || r.experiment.state === 'running';
    if (can(ctx.who, 'stop-experiment') && running) {
      children.push(h('div', { class: 'actions' }, button('Stop experiment', async () => {
        if (!(await confirmDialog('Stop this experiment?', `Everyone gets the baseline arm (${r.baseline}); no more exposures are recorded.`, 'Stop'))) return;
        try {
          await api.post(api.t(`/experiments/${api.seg(name)}/stop`), {});
          openExp(name);
        } catch (err) { detail.prepend(problem(err)); }
      }, { class: 'danger', 'data-action': 'stop-experiment' })));
    }
    return section(`Experiment ${name}`, ...children);
  });
  root.append(section('Experiments', list), detail);
  into(list, async () => {
    const r = await api.get(api.t('/experiments'));
    const rows = firstArray(r);
    return table(rows, [['name', 'Name', (v) => button(v, () => openExp(v), { class: 'link' })], ['state', 'State'], ['purpose', 'Purpose'], ['created_at', 'Created', when]], { emptyText: 'No experiments yet.' });
  });
}

// ---- system health ---------------------------------------------------------------------------

/** Parses Prometheus text exposition: [{name, labels, value}]. */
export function parsePrometheus(body) {
  const out = [];
  for (const line of body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let lm;
      while ((lm = re.exec(m[3]))) labels[lm[1]] = lm[2].replace(/\\(.)/g, '$1');
    }
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

const healthHistory = { samples: [] };

/**
 * Per-series quantile of a Prometheus histogram (`_bucket` lines with `le`), estimated by
 * linear interpolation inside the bucket that holds it (as histogram_quantile does); falls back
 * to summary lines with a `quantile` label.
 */
export function histogramQuantiles(metrics, name, q) {
  const series = new Map();
  for (const m of metrics) {
    if (m.name !== `${name}_bucket`) continue;
    const { le, ...rest } = m.labels;
    const key = Object.entries(rest).map(([k, v]) => `${k}=${v}`).join(',');
    if (!series.has(key)) series.set(key, { labels: rest, buckets: [] });
    series.get(key).buckets.push([le === '+Inf' ? Infinity : Number(le), m.value]);
  }
  const out = [];
  for (const { labels, buckets } of series.values()) {
    buckets.sort((a, b) => a[0] - b[0]);
    const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
    if (!total) continue;
    const rank = q * total;
    let prevLe = 0;
    let prevCount = 0;
    let value = NaN;
    for (const [le, count] of buckets) {
      if (count >= rank) {
        value = le === Infinity ? prevLe : prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1e-12, count - prevCount));
        break;
      }
      prevLe = le;
      prevCount = count;
    }
    out.push({ label: `${labels.method || ''} ${labels.route || ''}`.trim(), value, count: total });
  }
  if (out.length === 0) {
    for (const m of metrics) {
      if (m.name === name && m.labels.quantile === String(q)) out.push({ label: `${m.labels.method || ''} ${m.labels.route || ''}`.trim(), value: m.value, count: 0 });
    }
  }
  return out;
}

async function healthPage(root, ctx) {
  const ready = h('div');
  const charts = h('div', { class: 'grid' });
  const gauges = h('div');
  let timer = null;
  ctx.onLeave(() => clearTimeout(timer));
  const tick = async () => {
    try {
      const [readyz, text_] = await Promise.all([
        api.call('/readyz', { auth: false }).catch((e) => ({ status: 'not ready', detail: e.detail || e.title })),
        api.call('/metrics', { auth: false, accept: 'text/plain' }),
      ]);
      replace(ready, h('p', { class: readyz.status === 'ready' ? 'ok' : 'problem', 'data-test': 'readiness' }, `Readiness: ${readyz.status}${readyz.detail ? ` (${readyz.detail})` : ''}`));
      const metrics = parsePrometheus(text_);
      const sum = (name, pred = () => true) => metrics.filter((m) => m.name === name && pred(m.labels)).reduce((a, m) => a + m.value, 0);
      healthHistory.samples.push({
        t: Date.now(),
        requests: sum('steward_http_requests_total'),
        errors: sum('steward_http_requests_total', (l) => l.status && l.status.startsWith('5')),
        events: sum('steward_ingest_events_total'),
        audit_unsigned: sum('steward_audit_unsigned_seconds'),
        erasure_oldest: sum('steward_erasure_oldest_open_seconds'),
      });
      if (healthHistory.samples.length > 120) healthHistory.samples.shift();
      const rate = (key) => {
        const pts = [];
        for (let i = 1; i < healthHistory.samples.length; i++) {
          const a = healthHistory.samples[i - 1];
          const b = healthHistory.samples[i];
          pts.push([b.t, Math.max(0, (b[key] - a[key]) / ((b.t - a.t) / 1000))]);
        }
        return pts;
      };
      const byRoute = new Map();
      for (const m of metrics.filter((x) => x.name === 'steward_http_request_duration_seconds_count')) {
        byRoute.set(m.labels.route, (byRoute.get(m.labels.route) || 0) + m.value);
      }
      const top = [...byRoute.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([label, value]) => ({ label, value }));
      const erasures = metrics.filter((m) => m.name === 'steward_erasures_open').map((m) => ({ label: m.labels.state || 'all', value: m.value }));
      const p99 = histogramQuantiles(metrics, 'steward_http_request_duration_seconds', 0.99)
        .map((q) => ({ label: q.label, value: q.value * 1000 }))
        .sort((a, b) => b.value - a.value).slice(0, 8);
      replace(charts,
        chartCard('Requests per second', lines([{ name: 'requests/s', points: rate('requests') }, { name: '5xx/s', points: rate('errors') }], { title: 'HTTP requests per second' })),
        chartCard('Events ingested per second', lines([{ name: 'events/s', points: rate('events') }], { title: 'events ingested per second' })),
        chartCard('Requests by route (total)', top.length ? bars(top, { title: 'requests by route' }) : empty('No requests yet.')),
        chartCard('p99 latency by route (ms)', p99.length ? bars(p99, { title: 'p99 latency in milliseconds' }) : empty('No latency summaries exported.')),
        chartCard('Erasures open by state', erasures.length ? bars(erasures, { title: 'open erasures by state' }) : empty('No erasures open.')),
        chartCard('Seconds since the last signed audit head; oldest open erasure', lines([
          { name: 'audit unsigned (s)', points: healthHistory.samples.map((x) => [x.t, x.audit_unsigned]) },
          { name: 'oldest open erasure (s)', points: healthHistory.samples.map((x) => [x.t, x.erasure_oldest]) },
        ], { title: 'audit head age and oldest open erasure, in seconds' })));
      const watch = metrics.filter((m) => /^steward_(erasure_oldest_open_seconds|audit_unsigned_seconds|retention_oldest_overdue_seconds|tenants_unavailable|worker_panics_total|storage_damaged_total|experiment_srm)/.test(m.name));
      replace(gauges, table(watch.map((m) => ({ metric: m.name, labels: Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(', '), value: m.value })), undefined, { emptyText: 'No operator gauges exported yet.' }));
    } catch (err) {
      replace(ready, problem(err));
    }
    if (root.isConnected) timer = setTimeout(tick, 3000);
  };
  root.append(section('System health', ready, charts), section('What an operator watches', gauges));
  replace(charts, loading());
  tick();
}

function chartCard(title, chart) {
  return h('div', { class: 'chart-card' }, h('h3', {}, title), chart);
}

// ---- the page table --------------------------------------------------------------------------

export const PAGES = [
  { id: 'tenants', title: 'Tenants', who: ['operator'], render: tenantsPage },
  { id: 'keys', title: 'API keys', who: ['operator', 'admin'], render: keysPage },
  { id: 'schemas', title: 'Schemas', who: TENANT_ROLES, render: schemasPage },
  { id: 'policies', title: 'Policies', who: ['admin'], render: policiesPage },
  { id: 'consent', title: 'Consent', who: ['admin', 'privacy_officer'], render: consentPage },
  { id: 'requests', title: 'Erasure & access', who: ['admin', 'privacy_officer'], render: requestsPage },
  { id: 'audit', title: 'Audit', who: ['admin', 'privacy_officer'], render: auditPage },
  { id: 'sql', title: 'SQL', who: ['admin', 'reader', 'privacy_officer'], render: sqlPage },
  { id: 'datasets', title: 'Data sets', who: ['admin', 'reader'], render: datasetsPage },
  { id: 'models', title: 'Models', who: ['admin', 'reader'], render: modelsPage },
  { id: 'experiments', title: 'Experiments', who: ['admin', 'reader'], render: experimentsPage },
  { id: 'health', title: 'System health', who: ['operator', ...TENANT_ROLES], render: healthPage },
];
