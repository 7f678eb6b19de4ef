// The review page in headless Chromium (Debian's, driven by puppeteer-core):
// log in, filter, open a visit with a conflict, resolve it, comment, export CSV,
// and screenshots of the list, detail, conflicts and sync-health views at 1280
// and 800 pixels. run_browser.sh starts the daemon, seeds it and checks the
// rep's tablet afterwards.
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync } from 'node:fs';
import assert from 'node:assert/strict';

const require = createRequire(process.env.NPM_DIR + '/');
const puppeteer = require('puppeteer-core');
const { BASE, SHOTS, CHROMIUM, PROFILE, CHOSEN_FILE, V_ALICE, V_BOB, V_CARL } = process.env;
const ZONE = 'America/New_York'; // the supervisor's zone: times must be shown in it

function step(msg) { console.log('ok - ' + msg); }

const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  acceptInsecureCerts: true, // the daemon's own CA; everything is on 127.0.0.1
  ignoreHTTPSErrors: true,
  userDataDir: PROFILE || mkdtempSync('/tmp/fsy-chrome-'),
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage'],
});
let failed = false;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(15000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.emulateTimezone(ZONE);
  await page.setViewport({ width: 1280, height: 900 });

  const shot = async (name) => {
    for (const w of [1280, 800]) {
      await page.setViewport({ width: w, height: w === 1280 ? 900 : 1100 });
      await new Promise((r) => setTimeout(r, 150));
      await page.screenshot({ path: `${SHOTS}/${name}-${w}.png`, fullPage: true });
    }
    await page.setViewport({ width: 1280, height: 900 });
  };
  const visible = (sel) => page.waitForSelector(sel, { visible: true });
  const rowIds = () => page.$$eval('#visits-table tbody tr[data-id]', (rs) => rs.map((r) => r.dataset.id));

  // --- log in (a wrong password first)
  await page.goto(BASE + '/review', { waitUntil: 'networkidle0' });
  await visible('#view-login');
  await page.type('#login-user', 'sue');
  await page.type('#login-password', 'not-her-password');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0);
  step('a wrong password is refused on the page');
  await page.$eval('#login-password', (e) => { e.value = ''; });
  await page.type('#login-password', 'sue-pw-1234');
  await page.click('#login-form button[type=submit]');
  await visible('#view-visits');
  await page.waitForFunction(() => document.querySelectorAll('#visits-table tbody tr[data-id]').length === 2);
  const all = await rowIds();
  assert.deepEqual(new Set(all), new Set([V_ALICE, V_BOB]));
  assert.ok(!all.includes(V_CARL));
  const cookies = await page.cookies();
  const c = cookies.find((k) => k.name === 'fsy_session');
  assert.ok(c && c.httpOnly && c.secure && c.sameSite === 'Strict', JSON.stringify(c));
  assert.equal(await page.evaluate(() => document.cookie.includes('fsy_session')), false);
  step('sue logs in and sees her team\'s two visits; the cookie is HttpOnly, Secure, SameSite=Strict');

  // Times in the supervisor's zone: 2026-11-20T09:00:00Z is 4:00 AM in New York.
  const when = await page.$eval(`#visits-table tr[data-id="${V_ALICE}"] td`, (td) => td.textContent);
  assert.match(when, /Nov 20, 2026.*4:00\s?AM/, when);
  step('visit times are shown in the supervisor\'s time zone: ' + when);
  await shot('list');

  // --- filter: alice's visits with open conflicts
  await page.select('#f-rep', 'alice');
  await page.select('#f-conflicts', '1');
  await page.click('#f-apply');
  await page.waitForFunction(() => document.querySelectorAll('#visits-table tbody tr[data-id]').length === 1);
  assert.deepEqual(await rowIds(), [V_ALICE]);
  const csvHref = await page.$eval('#csv', (a) => a.getAttribute('href'));
  assert.match(csvHref, /rep=alice/);
  step('filtering by rep and open conflicts leaves alice\'s visit');

  // --- open it: history and the conflict side by side
  await page.click(`#visits-table tr[data-id="${V_ALICE}"]`);
  await visible('#view-visit');
  await page.waitForSelector('#visit-conflicts .conflict');
  await page.waitForFunction(() => document.querySelectorAll('#history-table tbody tr').length >= 3);
  const heads = await page.$$eval('#visit-conflicts .conflict .head strong', (s) => s.map((x) => x.textContent));
  assert.ok(heads.includes('visits.outcome') && heads.includes('customers.address'), heads.join());
  const histUsers = await page.$$eval('#history-table tbody tr td:nth-child(2)', (t) => t.map((x) => x.textContent));
  assert.ok(histUsers.includes('alice') && histUsers.includes('bob'), histUsers.join());
  step('the visit shows its history (alice and bob, with devices and skew) and both conflicts');
  await shot('detail');

  // --- resolve the outcome conflict by choosing the value that lost the merge
  const card = await page.evaluateHandle(() => [...document.querySelectorAll('#visit-conflicts .conflict')]
    .find((c) => c.querySelector('.head strong').textContent === 'visits.outcome'));
  const n = await card.evaluate((c) => c.dataset.n);
  const chosen = await card.evaluate((c) => c.querySelector('.side.other .value').textContent);
  await card.evaluate((c) => c.querySelector('.side.other button').click());
  await page.waitForFunction((num) => {
    const c = document.querySelector(`#visit-conflicts .conflict[data-n="${num}"]`);
    return c && /resolved by sue/.test(c.textContent);
  }, {}, n);
  const outcome = await page.evaluate(() => {
    const dts = [...document.querySelectorAll('#visit-fields dt')];
    const i = dts.findIndex((d) => d.textContent === 'outcome');
    return document.querySelectorAll('#visit-fields dd')[i].textContent;
  });
  assert.equal(outcome, chosen);
  writeFileSync(CHOSEN_FILE, chosen);
  step(`conflict ${n} resolved by choosing "${chosen}"`);

  // --- comment and mark reviewed
  await page.type('#review-comment', 'Good call on the 14 SKUs');
  await page.click('#mark-reviewed');
  await page.waitForFunction(() => /Good call on the 14 SKUs/.test(document.getElementById('visit-reviews').textContent));
  await page.waitForFunction(() => /next sync/.test(document.getElementById('review-msg').textContent));
  step('comment saved and the visit marked reviewed');
  await shot('detail-reviewed');

  // --- conflicts view: the customer's address conflict is still open
  await page.click('#nav a[data-view=conflicts]');
  await visible('#view-conflicts');
  await page.waitForSelector('#conflicts-list .conflict');
  const open = await page.$$eval('#conflicts-list .conflict .head strong', (s) => s.map((x) => x.textContent));
  assert.deepEqual(open, ['customers.address']);
  step('the conflicts view lists the one conflict still open');
  await shot('conflicts');

  // --- sync health
  await page.click('#nav a[data-view=devices]');
  await visible('#view-devices');
  await page.waitForFunction(() => document.querySelectorAll('#devices-table tbody tr').length === 2);
  const users = await page.$$eval('#devices-table tbody tr td:first-child', (t) => t.map((x) => x.textContent).sort());
  assert.deepEqual(users, ['alice', 'bob']);
  step('sync health lists the team\'s two tablets');
  await shot('devices');

  // --- export CSV of the filtered list (the link the page offers, with the session cookie)
  await page.click('#nav a[data-view=visits]');
  await visible('#view-visits');
  await page.select('#f-rep', 'alice');
  await page.select('#f-conflicts', '');
  await page.click('#f-apply');
  await page.waitForFunction(() => document.querySelectorAll('#visits-table tbody tr[data-id]').length === 1);
  const href = await page.$eval('#csv', (a) => a.href);
  const csv = await page.evaluate(async (u) => {
    const r = await fetch(u, { credentials: 'same-origin' });
    return { status: r.status, type: r.headers.get('content-type'), disp: r.headers.get('content-disposition'), text: await r.text() };
  }, href);
  assert.equal(csv.status, 200);
  assert.match(csv.type, /^text\/csv/);
  assert.match(csv.disp, /attachment/);
  const lines = csv.text.trim().split('\r\n');
  assert.equal(lines.length, 2, csv.text);
  assert.ok(lines[1].includes(V_ALICE) && lines[1].includes('"Good call on the 14 SKUs"') && lines[1].includes('"reviewed"'), lines[1]);
  step('CSV export of the filtered list holds the visit, its review and comment');

  // --- log out
  await page.click('#logout');
  await visible('#view-login');
  const after = await page.evaluate(async () => (await fetch('/api/review/visits')).status);
  assert.equal(after, 401);
  step('logout ends the session');
  const real = errors.filter((e) => !/401|Failed to load resource/.test(e));
  assert.deepEqual(real, [], 'errors on the page: ' + real.join('\n'));
  step('no script errors on the page');
} catch (e) {
  failed = true;
  console.error('FAIL:', e && e.stack ? e.stack : e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
