// fieldsync review page: plain JS, no build step. Talks to /api/review/ with the
// session cookie; every write carries the CSRF token from the login answer.
// Times arrive in UTC and are shown in the browser's time zone (Intl).
'use strict';

const state = { csrf: '', user: '', role: '', page: 1, perPage: 25, total: 0, visit: null };
const $ = (id) => document.getElementById(id);
const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
// UUIDv7 device ids share their time prefix: the tail tells tablets apart.
const devShort = (id) => (id ? '…' + id.slice(-8) : '?');
const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone: tz });

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}

function when(v) {
  if (v === null || v === undefined || v === '' || v === 0) return '';
  const d = typeof v === 'number' ? new Date(v) : new Date(v);
  return isNaN(d) ? String(v) : fmt.format(d);
}

function ago(ms) {
  if (!ms) return 'never';
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 90) return 'just now';
  if (s < 5400) return Math.round(s / 60) + ' min ago';
  if (s < 129600) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' days ago';
}

function skew(ms) {
  if (ms === undefined || ms === null) return '';
  const a = Math.abs(ms);
  const t = a < 1000 ? a + ' ms' : a < 120000 ? (a / 1000).toFixed(1) + ' s' : Math.round(a / 60000) + ' min';
  return (ms >= 0 ? '+' : '−') + t;
}

function show(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

async function api(path, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.method === 'POST') headers['X-CSRF-Token'] = state.csrf;
  const r = await fetch('/api/review/' + path, {
    method: opts.method || 'GET', headers, credentials: 'same-origin',
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    const err = new Error((data && data.error && data.error.message) || r.statusText);
    err.status = r.status;
    err.code = data && data.error && data.error.code;
    throw err;
  }
  return data;
}

function setError(msg) { $('error').textContent = msg || ''; }

function only(view) {
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== 'view-' + view;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === view || (view === 'visit' && a.dataset.view === 'visits'));
}

// ---- login ------------------------------------------------------------------

function signedIn(s) {
  state.csrf = s.csrf; state.user = s.user; state.role = s.role;
  $('nav').hidden = false; $('who').hidden = false;
  $('who-name').textContent = s.user + ' (' + s.role + ') · ' + tz;
}

async function login(ev) {
  ev.preventDefault();
  $('login-error').textContent = '';
  try {
    const s = await api('login', { method: 'POST', body: { user: $('login-user').value, password: $('login-password').value } });
    $('login-password').value = '';
    signedIn(s);
    await loadReps();
    if (!location.hash || location.hash === '#/login') location.hash = '#/visits';
    else route();
  } catch (e) {
    $('login-error').textContent = e.status === 429 ? e.message : e.status === 403 ? 'This account cannot use the review page.' : 'Unknown user or wrong password.';
  }
}

async function logout() {
  try { await api('logout', { method: 'POST', body: {} }); } catch (e) { /* gone already */ }
  state.csrf = '';
  $('nav').hidden = true; $('who').hidden = true;
  location.hash = '#/login';
  only('login');
}

// ---- visits -----------------------------------------------------------------

async function loadReps() {
  const { reps } = await api('reps');
  const sel = $('f-rep');
  while (sel.options.length > 1) sel.remove(1);
  for (const r of reps) sel.append(el('option', { value: r.name }, r.name + (r.territory ? ' · ' + r.territory : '')));
}

function localDayUtc(d, plusDays) {
  // A date picked in the supervisor's zone becomes the UTC instant of its midnight.
  const [y, m, day] = d.split('-').map(Number);
  return new Date(y, m - 1, day + plusDays).toISOString();
}

function filterQuery() {
  const q = new URLSearchParams();
  for (const k of ['rep', 'customer', 'status', 'review', 'conflicts']) {
    const v = $('f-' + k).value.trim();
    if (v) q.set(k, v);
  }
  if ($('f-from').value) q.set('from', localDayUtc($('f-from').value, 0));
  if ($('f-to').value) q.set('to', localDayUtc($('f-to').value, 1));
  return q;
}

function reviewBadge(v) {
  if (v.review_state === 'reviewed') return el('span', { class: 'badge ok' }, 'reviewed');
  if (v.review_state === 'needs-follow-up') return el('span', { class: 'badge amber' }, 'needs follow-up');
  return el('span', { class: 'badge plain' }, 'not reviewed');
}

async function loadVisits() {
  only('visits');
  const q = filterQuery();
  $('csv').href = '/api/review/visits.csv?' + q.toString();
  q.set('page', state.page); q.set('per_page', state.perPage);
  const data = await api('visits?' + q.toString());
  state.total = data.total;
  const tb = $('visits-table').tBodies[0];
  tb.replaceChildren();
  for (const v of data.visits) {
    const tr = el('tr', { class: 'link', 'data-id': v.id, onclick: () => { location.hash = '#/visit/' + v.id; } },
      el('td', { class: 'when' }, when(v.planned_at || v.checkin_at)),
      el('td', {}, v.rep),
      el('td', {}, v.customer || v.customer_id, v.customer_deleted ? el('span', { class: 'muted' }, ' (deleted)') : null),
      el('td', {}, v.status),
      el('td', {}, (v.outcome || v.purpose || '').slice(0, 80)),
      el('td', {}, reviewBadge(v)),
      el('td', {}, v.open_conflicts ? el('span', { class: 'badge warn' }, v.open_conflicts + ' open') : ''));
    tb.append(tr);
  }
  if (!data.visits.length) tb.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No visits match these filters.')));
  const pages = Math.max(1, Math.ceil(state.total / state.perPage));
  $('visits-summary').textContent = state.total + ' visit' + (state.total === 1 ? '' : 's') + ' · times in ' + tz;
  $('page-info').textContent = 'Page ' + state.page + ' of ' + pages;
  $('prev').disabled = state.page <= 1;
  $('next').disabled = state.page >= pages;
}

// ---- one visit --------------------------------------------------------------

const fieldOrder = ['status', 'kind', 'planned_at', 'checkin_at', 'checkout_at', 'purpose', 'outcome', 'next_steps', 'follow_up', 'satisfaction', 'checkin_lat', 'checkin_lon', 'checkout_lat', 'checkout_lon'];
const timeFields = new Set(['planned_at', 'checkin_at', 'checkout_at']);

function conflictCard(c) {
  const side = (cls, label, s) => el('div', { class: 'side ' + cls },
    el('div', { class: 'muted' }, label),
    el('div', { class: 'value' }, show(s.value)),
    el('div', { class: 'muted' }, (s.user || '?') + ' · device ' + devShort(s.device)),
    c.resolved ? null : el('button', { type: 'button', class: cls === 'kept' ? 'secondary' : '', 'data-choose': cls, onclick: () => resolve(c, cls) }, 'Choose this value'));
  return el('div', { class: 'conflict', 'data-n': c.n },
    el('div', { class: 'head' },
      el('span', {}, el('strong', {}, c.table + '.' + c.field),
        c.customer ? el('span', { class: 'muted' }, ' · ' + c.customer) : null,
        c.visit_id ? el('a', { href: '#/visit/' + c.visit_id, class: 'open-visit' }, ' · open visit') : null),
      el('span', { class: 'muted' }, 'raised ' + when(c.at_ms) + (c.clock_bounded ? ' · clock bounded' : '')),
      c.resolved ? el('span', { class: 'badge ok' }, 'resolved by ' + c.resolved_by + ' · ' + when(c.resolved_ms)) : el('span', { class: 'badge warn' }, 'open')),
    el('div', { class: 'sides' }, side('kept', 'Stands now (won the merge)', c.kept), side('other', 'Lost the merge', c.other)));
}

async function resolve(c, choose) {
  setError('');
  try {
    await api('conflicts/' + c.n + '/resolve', { method: 'POST', body: { choose } });
    route();
  } catch (e) { setError(e.message); }
}

async function loadVisit(id) {
  only('visit');
  const d = await api('visits/' + encodeURIComponent(id));
  state.visit = d;
  const v = d.visit;
  $('visit-title').textContent = (d.customer.name || d.customer.id) + ' — ' + v.rep;
  const dl = $('visit-fields');
  dl.replaceChildren();
  const add = (k, val) => { dl.append(el('dt', {}, k.replace(/_/g, ' ')), el('dd', {}, val)); };
  add('customer', (d.customer.name || '') + (d.customer.deleted ? ' (deleted)' : ''));
  for (const k of fieldOrder) if (v[k] !== undefined && v[k] !== null) add(k, timeFields.has(k) ? when(v[k]) : show(v[k]));
  const ul = $('visit-reviews');
  ul.replaceChildren();
  for (const r of d.reviews) ul.append(el('li', {}, el('strong', {}, r.state), ' by ' + r.supervisor, r.comment ? el('div', {}, r.comment) : null));
  if (!d.reviews.length) ul.append(el('li', { class: 'muted' }, 'Not reviewed yet.'));
  const cc = $('visit-conflicts');
  cc.replaceChildren();
  for (const c of d.conflicts) cc.append(conflictCard(c));
  if (!d.conflicts.length) cc.append(el('p', { class: 'muted' }, 'No concurrent edits on this visit or its customer.'));
  const tb = $('history-table').tBodies[0];
  tb.replaceChildren();
  for (const h of d.history) {
    const changed = el('div', { class: 'changed' });
    for (const [k, val] of Object.entries(h.fields)) changed.append(el('div', {}, el('code', {}, k), ' = ', timeFields.has(k) ? when(val) : show(val)));
    const sk = h.device_skew_ms;
    tb.append(el('tr', {}, el('td', {}, when(h.at_ms)), el('td', {}, h.user),
      el('td', {}, h.device === 'review-web' ? 'review page' : devShort(h.device) + (h.device_app_version ? ' · ' + h.device_app_version : '')),
      el('td', { class: sk !== undefined && Math.abs(sk) > 300000 ? 'stale' : '' }, skew(sk)), el('td', {}, changed)));
  }
}

async function submitReview(ev) {
  ev.preventDefault();
  const st = ev.submitter ? ev.submitter.dataset.state : 'reviewed';
  $('review-msg').textContent = '';
  try {
    await api('visits/' + state.visit.visit.id + '/review', { method: 'POST', body: { state: st, comment: $('review-comment').value } });
    $('review-comment').value = '';
    await loadVisit(state.visit.visit.id);
    $('review-msg').textContent = 'Saved; it reaches the rep\u2019s tablet on its next sync.';
  } catch (e) { $('review-msg').textContent = e.message; }
}

// ---- conflicts and devices --------------------------------------------------

async function loadConflicts() {
  only('conflicts');
  const { conflicts } = await api('conflicts?open=1');
  const box = $('conflicts-list');
  box.replaceChildren();
  for (const c of conflicts) box.append(conflictCard(c));
  if (!conflicts.length) box.append(el('p', { class: 'muted' }, 'No open conflicts in your team.'));
}

async function loadDevices() {
  only('devices');
  const { devices } = await api('devices');
  const tb = $('devices-table').tBodies[0];
  tb.replaceChildren();
  for (const d of devices) {
    const old = !d.last_sync_ms || Date.now() - d.last_sync_ms > 2 * 86400000;
    tb.append(el('tr', {}, el('td', {}, d.user, d.revoked ? el('span', { class: 'badge warn' }, ' revoked') : null),
      el('td', { title: d.device, class: 'when' }, devShort(d.device)),
      el('td', { class: old ? 'stale' : '', title: when(d.last_sync_ms) }, ago(d.last_sync_ms)),
      el('td', {}, d.pending === null ? '?' : d.pending),
      el('td', {}, d.parked === null ? '?' : d.parked),
      el('td', {}, d.open_conflicts),
      el('td', { class: Math.abs(d.skew_ms) > 300000 ? 'stale' : '' }, skew(d.skew_ms)),
      el('td', {}, d.app_version)));
  }
  if (!devices.length) tb.append(el('tr', {}, el('td', { colspan: 8, class: 'muted' }, 'No devices enrolled in your team.')));
}

// ---- routing ----------------------------------------------------------------

async function route() {
  setError('');
  if (!state.csrf) { only('login'); return; }
  const h = location.hash || '#/visits';
  try {
    if (h.startsWith('#/visit/')) await loadVisit(h.slice(8));
    else if (h === '#/conflicts') await loadConflicts();
    else if (h === '#/devices') await loadDevices();
    else await loadVisits();
  } catch (e) {
    if (e.status === 401) { state.csrf = ''; only('login'); return; }
    setError(e.message);
  }
}

async function start() {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('filters').addEventListener('submit', (ev) => { ev.preventDefault(); state.page = 1; loadVisits().catch((e) => setError(e.message)); });
  $('review-form').addEventListener('submit', submitReview);
  $('prev').addEventListener('click', () => { state.page--; loadVisits(); });
  $('next').addEventListener('click', () => { state.page++; loadVisits(); });
  window.addEventListener('hashchange', route);
  try {
    signedIn(await api('session'));
    await loadReps();
  } catch (e) { /* not signed in */ }
  route();
}

document.addEventListener('DOMContentLoaded', start);
