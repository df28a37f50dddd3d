// Demo page test: the embedded /demo page (fetch + EventSource, no
// third-party code) in headless Chromium, as users 1 and 2 against the real
// binary and a real Redis: send, reply, edit and delete show up live on the
// other page; 50 REST sends arrive exactly once and in order; after a server
// restart the page's EventSource reconnects with its last event id and the
// server replays what it missed. Plus the dev-mode sign-in (embedded store).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { randomName, redisURL, startParley } from './lib/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, 'out');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

let browser;
const servers = new Set(); // running Parley handles, stopped in after()

before(async () => {
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  for (const s of servers) {
    const { code, signal } = await s.stop();
    cleanup(s);
    assert.equal(signal, null, s.output());
    assert.equal(code, 0, s.output());
  }
});

// Removes a run's Redis keys like the harness's cleanup(), but scanning 10000
// keys a call: on a Redis holding many keys the default COUNT 10 takes minutes.
function cleanup(server) {
  if (!server.cfg.PARLEY_REDIS_URL) return; // embedded store: nothing in Redis
  const scan = spawnSync('redis-cli', ['-u', redisURL, '--scan', '--count', '10000', '--pattern', `${server.cfg.PARLEY_KEY_PREFIX}*`],
    { encoding: 'utf8', timeout: 30_000 });
  if (scan.status !== 0) return;
  const keys = scan.stdout.split('\n').filter(Boolean);
  for (let i = 0; i < keys.length; i += 200) {
    spawnSync('redis-cli', ['-u', redisURL, 'DEL', ...keys.slice(i, i + 200)], { timeout: 10_000 });
  }
}

// Several servers run at once (and other files' in parallel): no metrics
// listener, whose default address is fixed.
const quiet = { PARLEY_METRICS_ADDR: '' };
const start = (env = {}) => startParley({ env: { ...quiet, ...env } });

/**
 * Opens /demo on server with hash; collects page errors, console lines and
 * dialogs (the page must never open one: they are dismissed and listed).
 * now, when set, fixes the page's clock (Date) there; timers still run.
 */
async function openDemo(server, hash = '', { now, setup } = {}) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 720 }, locale: 'en-US', timezoneId: 'UTC' });
  const errors = [];
  const consoleLog = [];
  const dialogs = [];
  page.on('pageerror', (e) => errors.push(e));
  page.on('console', (m) => consoleLog.push(`${m.type()}: ${m.text()}`));
  page.on('dialog', (d) => { dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss(); });
  if (now) await page.clock.setFixedTime(now);
  if (setup) await setup(page);
  await page.goto(`${server.url}/demo${hash}`);
  return { page, errors, consoleLog, dialogs };
}

const statusOf = (page) => page.locator('#status').getAttribute('data-state');

async function waitLive(page, ms = 10_000) {
  await page.waitForSelector('#status[data-state="live"]', { timeout: ms });
}

/** The open conversation's messages as [{id, author, text, edited}]. */
function messages(page) {
  return page.$$eval('#messages li[data-id]', (lis) => lis.map((li) => ({
    id: li.dataset.id,
    author: li.dataset.author,
    text: li.querySelector('.text')?.textContent ?? null,
    edited: li.dataset.edited === 'true',
  })));
}

/** Waits until fn(messages) is true; fails with the last list seen. */
async function waitMessages(page, fn, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await messages(page);
    if (fn(last)) return last;
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}; page shows ${last.length} messages: ` +
        JSON.stringify(last.slice(-5).map((m) => m.text)));
    }
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

test('two demo pages chat live; 50 sends arrive once and in order; a restart loses nothing', async () => {
  let parley = await start();
  servers.add(parley);
  const t1 = parley.token(1);
  const t2 = parley.token(2);

  const p1 = await openDemo(parley, `#token=${encodeURIComponent(t1)}`);
  const p2 = await openDemo(parley, `#token=${encodeURIComponent(t2)}`);
  const page1 = p1.page;
  const page2 = p2.page;
  try {
    await waitLive(page1);
    await waitLive(page2);
    assert.equal(await page1.locator('#whoami').textContent(), 'signed in as user 1');
    assert.equal(await page2.locator('#whoami').textContent(), 'signed in as user 2');
    // The token left the address bar for sessionStorage.
    assert.equal(new URL(page1.url()).hash, '');
    assert.equal(await page1.evaluate(() => sessionStorage.getItem('parley.token')), t1);

    // Page 1 starts a conversation with user 2 and sends.
    await page1.fill('#new-peer', '2');
    await page1.click('#open-peer');
    await page1.waitForSelector('#peer-title[data-peer="2"]');
    await page1.fill('#composer input', 'hello from page 1');
    await page1.click('#send');
    const [sent] = await waitMessages(page1, (ms) => ms.length === 1, 'own message on page 1');
    assert.equal(sent.text, 'hello from page 1');
    assert.equal(sent.author, '1');

    // Page 2 sees it in its inbox live, opens the conversation, replies.
    const row = page2.locator('#inbox li[data-peer="1"]');
    await row.locator('.latest', { hasText: 'hello from page 1' }).waitFor({ timeout: 10_000 });
    await row.click();
    await waitMessages(page2, (ms) => ms.length === 1 && ms[0].id === sent.id && ms[0].text === 'hello from page 1',
      'page 1 message on page 2');
    await page2.fill('#composer input', 'hello from page 2');
    await page2.click('#send');
    const both = await waitMessages(page1, (ms) => ms.length === 2 && ms[1].text === 'hello from page 2',
      'reply on page 1');
    assert.equal(both[1].author, '2');
    // The sender's own copy (REST answer + its event) is shown once.
    await waitMessages(page2, (ms) => ms.length === 2, 'reply once on page 2');
    await page1.locator('#inbox li[data-peer="2"] .latest', { hasText: 'hello from page 2' }).waitFor();

    // Each page marks the open conversation read, so each sees its own
    // message "seen" (message:read); both show the peer online; typing on
    // one page shows on the other (the page sends at most one a second, so
    // keep typing until it shows).
    await page1.locator(`#messages li[data-id="${sent.id}"] .seen`).waitFor({ timeout: 10_000 });
    await page2.locator('#messages li.mine .seen').waitFor({ timeout: 10_000 });
    await page1.locator('#presence[data-online="true"]').waitFor({ timeout: 10_000 });
    await page2.locator('#presence[data-online="true"]').waitFor({ timeout: 10_000 });
    const typingShown = page1.locator('#typing', { hasText: 'user 2 is typing' });
    for (let i = 0; !(await typingShown.count()); i++) {
      assert.ok(i < 40, 'typing indicator never showed on page 1');
      await page2.fill('#composer input', 'typing ' + i);
      await new Promise((ok) => setTimeout(ok, 250));
    }
    await page2.fill('#composer input', '');

    // Page 1 edits its message in place (no prompt()).
    await page1.click(`#messages li[data-id="${sent.id}"] button.edit`);
    await page1.fill(`#messages li[data-id="${sent.id}"] .edit-input`, 'edited from page 1');
    await page1.press(`#messages li[data-id="${sent.id}"] .edit-input`, 'Enter');
    await waitMessages(page2, (ms) => ms.some((m) => m.id === sent.id && m.text === 'edited from page 1' && m.edited),
      'edit on page 2');
    assert.equal(await page2.locator(`#messages li[data-id="${sent.id}"] .edited`).count(), 1);

    // Page 1 deletes it (and confirms): it disappears on page 2.
    await page1.click(`#messages li[data-id="${sent.id}"] button.delete`);
    await page1.click(`#messages li[data-id="${sent.id}"] button.confirm-delete`);
    await waitMessages(page2, (ms) => ms.length === 1 && !ms.some((m) => m.id === sent.id), 'delete on page 2');
    await waitMessages(page1, (ms) => ms.length === 1, 'delete on page 1');

    // Text is rendered as text, never as HTML.
    const html = '<img src=x onerror="window.pwned=1"><b>bold</b>';
    assert.equal((await parley.rest('POST', '/api/user/2', t1, { type: 'text', text: html })).status, 201);
    await waitMessages(page2, (ms) => ms.some((m) => m.text === html), 'markup as text');
    assert.equal(await page2.locator('#messages li b').count(), 0);
    assert.equal(await page2.evaluate(() => window.pwned), undefined);

    // Burst: 50 sends from user 1 over REST while page 2 is live.
    const before = (await messages(page2)).length;
    const burst = (from, n) => Array.from({ length: n }, (_, i) => `burst ${String(from + i).padStart(3, '0')}`);
    const sendAll = async (texts) => {
      const ids = [];
      for (const text of texts) {
        const r = await parley.rest('POST', '/api/user/2', t1, { type: 'text', text });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        ids.push(r.body.entry.id);
      }
      return ids;
    };
    const first = burst(1, 50);
    const firstIds = await sendAll(first);
    let shown = await waitMessages(page2, (ms) => ms.filter((m) => m.text.startsWith('burst ')).length >= 50,
      '50 burst messages on page 2');
    await new Promise((ok) => setTimeout(ok, 300)); // let any duplicate arrive
    shown = await messages(page2);
    assert.equal(shown.length, before + 50);
    assert.deepEqual(shown.filter((m) => m.text.startsWith('burst ')).map((m) => m.text), first);
    assert.deepEqual(shown.filter((m) => m.text.startsWith('burst ')).map((m) => m.id), firstIds);

    // Restart the server (real Redis keeps the log). Page 2's reconnects are
    // refused (aborted in the browser) until the next 20 are sent, so those
    // can only reach it by the replay after its last event id.
    let blocked = 0;
    await page2.route('**/api/events*', (route) => { blocked++; return route.abort(); });
    const { exit, server } = await parley.restart();
    servers.delete(parley);
    parley = server;
    servers.add(parley);
    // (How the first server exited with the pages' streams open is checked by
    // the SIGTERM test below.)
    assert.equal(exit.signal, null, 'first server died by signal');
    await page2.waitForSelector('#status[data-state="reconnecting"]', { timeout: 10_000 });
    const second = burst(51, 20);
    const secondIds = await sendAll(second);
    await waitMessages(page2, () => blocked > 0, 'a refused reconnect');
    assert.equal(await statusOf(page2), 'reconnecting');
    assert.equal((await messages(page2)).length, before + 50, 'page 2 got messages while cut off');
    await page2.unroute('**/api/events*');
    await waitLive(page2, 15_000);
    await waitMessages(page2, (ms) => ms.filter((m) => m.text.startsWith('burst ')).length >= 70,
      '70 burst messages on page 2 after the restart', 15_000);
    await new Promise((ok) => setTimeout(ok, 300));
    shown = await messages(page2);
    assert.equal(shown.length, before + 70);
    assert.deepEqual(shown.filter((m) => m.text.startsWith('burst ')).map((m) => m.text), [...first, ...second]);
    assert.deepEqual(shown.filter((m) => m.text.startsWith('burst ')).map((m) => m.id), [...firstIds, ...secondIds]);
    assert.equal(new Set(shown.map((m) => m.id)).size, shown.length, 'duplicate message ids on page 2');
    const log = await page2.evaluate(() => window.parleyDemo.statusLog);
    assert.deepEqual(log.slice(-2), ['reconnecting', 'live'], JSON.stringify(log));
    console.log(`demo: page 2 got 50 live + 20 replayed after a restart (${blocked} reconnects refused meanwhile)`);

    // Page 1 reconnected too and still chats.
    await waitLive(page1, 15_000);
    await page2.fill('#composer input', 'after the restart');
    await page2.click('#send');
    await waitMessages(page1, (ms) => ms.some((m) => m.text === 'after the restart'), 'post-restart reply on page 1');
    await page1.locator('#inbox li[data-peer="2"] .latest', { hasText: 'after the restart' }).waitFor();

    mkdirSync(outDir, { recursive: true });
    const shot1 = join(outDir, 'demo-user1.png');
    const shot2 = join(outDir, 'demo-user2.png');
    await page1.screenshot({ path: shot1 });
    await page2.screenshot({ path: shot2 });
    console.log(`demo screenshot: ${shot1}`);
    console.log(`demo screenshot: ${shot2}`);

    assert.deepEqual(p1.errors, []);
    assert.deepEqual(p2.errors, []);
  } finally {
    await page1.close();
    await page2.close();
  }
});

/** A local http server answering every GET with a 320x200 SVG picture. */
async function startImageServer() {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200" viewBox="0 0 320 200">' +
    '<rect width="320" height="200" fill="#bfdbfe"/><circle cx="250" cy="55" r="30" fill="#facc15"/>' +
    '<path d="M0 200 L90 90 L170 170 L230 120 L320 200 Z" fill="#16a34a"/></svg>';
  const hits = [];
  const srv = createServer((req, res) => {
    hits.push(req.url);
    res.writeHead(200, { 'Content-Type': 'image/svg+xml', 'Cache-Control': 'max-age=60' });
    res.end(svg);
  });
  await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${srv.address().port}`, hits, close: () => new Promise((ok) => srv.close(ok)) };
}

const li = (id) => `#messages li[data-id="${id}"]`;

/** Whether the element is inside the page's viewport (whole). */
const onScreen = (page, sel) => page.$eval(sel, (e) => {
  const r = e.getBoundingClientRect();
  return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
});

test('demo page features: older messages on scroll, dates, images, inline edit, confirmed delete, error bar, mark seen, self-chat', async () => {
  const parley = await start();
  servers.add(parley);
  const images = await startImageServer();
  const t1 = parley.token(1);
  const t2 = parley.token(2);
  const send = async (token, to, body) => {
    const r = await parley.rest('POST', `/api/user/${to}`, token, body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.entry.id;
  };

  // 61 messages from user 1 (one an image): more than the page's first 50.
  const ids = [];
  for (let i = 1; i <= 60; i++) {
    ids.push(await send(t1, 2, { type: 'text', text: `old ${String(i).padStart(3, '0')}` }));
    if (i === 57) ids.push(await send(t1, 2, { type: 'image', image: `${images.url}/hills.svg` }));
  }
  const imageId = ids[57];

  // Page B: user 2, its clock two days ahead (so every message is "before
  // today"), its read receipts refused for now (so messages stay unread).
  let readsRefused = 0;
  const refuseReads = (route) => { readsRefused++; return route.abort(); };
  const B = await openDemo(parley, `#token=${encodeURIComponent(t2)}&peer=1`, {
    now: new Date(Date.now() + 2 * 86_400_000),
    setup: (page) => page.route('**/api/user/*/read', refuseReads),
  });
  const A = await openDemo(parley, `#token=${encodeURIComponent(t1)}&peer=2`);
  const pageA = A.page;
  const pageB = B.page;
  try {
    await waitLive(pageA);
    await waitLive(pageB);

    // The newest 50 first; the edge offers more.
    let shown = await waitMessages(pageB, (ms) => ms.length === 50, 'the newest 50 on page B');
    assert.deepEqual(shown.map((m) => m.id), ids.slice(-50));
    assert.equal(await pageB.locator('#history-edge').getAttribute('data-state'), 'more');

    // Dates: two days later every message shows its date; today only times.
    const whenB = await pageB.locator(`${li(ids[60])} time.when`).textContent();
    const whenA = await pageA.locator(`${li(ids[60])} time.when`).textContent();
    assert.match(whenB, /^[A-Z][a-z]{2} \d{1,2}, \d{1,2}:\d{2}\s[AP]M$/, 'page B (2 days later)');
    assert.match(whenA, /^\d{1,2}:\d{2}\s[AP]M$/, 'page A (today)');
    assert.ok(whenB.endsWith(whenA), `${whenB} vs ${whenA}`);

    // The image message is an <img>, lazy, at most 240 px wide, loaded.
    const img = pageB.locator(`${li(imageId)} img`);
    assert.equal(await img.getAttribute('loading'), 'lazy');
    await pageB.waitForFunction((sel) => document.querySelector(sel)?.naturalWidth > 0, `${li(imageId)} img`);
    const box = await img.boundingBox();
    assert.ok(box.width <= 240 && box.height <= 240, JSON.stringify(box));
    assert.ok(images.hits.includes('/hills.svg'), JSON.stringify(images.hits));
    assert.equal(await pageB.locator(`${li(imageId)} a.image`).getAttribute('href'), `${images.url}/hills.svg`);

    // Unread (the read receipt failed): every message offers "Mark seen".
    assert.ok(readsRefused > 0, 'page B never tried to mark the conversation read');
    assert.equal(await pageB.locator('#messages button.mark-seen').count(), 50);

    // Scrolling up loads the 11 older messages above, keeping the view.
    const firstBefore = ids[11];
    await pageB.$eval('#scroller', (sc) => { sc.scrollTop = 0; });
    shown = await waitMessages(pageB, (ms) => ms.length === ids.length, 'all 61 after scrolling up');
    assert.deepEqual(shown.map((m) => m.id), ids);
    await pageB.waitForSelector('#history-edge[data-state="start"]');
    assert.match(await pageB.locator('#history-edge').textContent(), /Start of your conversation with user 1/);
    const kept = await pageB.$eval('#scroller', (sc, sel) => {
      const r = document.querySelector(sel).getBoundingClientRect();
      const s = sc.getBoundingClientRect();
      return r.bottom > s.top && r.top < s.bottom;
    }, li(firstBefore));
    assert.ok(kept, 'the message at the top before loading left the view');

    // "Mark seen" on one message: it and the older ones are read (the
    // horizon), the newer ones still offer it.
    await pageB.click(`${li(ids[40])} button.mark-seen`);
    await pageB.waitForSelector(`${li(ids[40])}[data-seen="true"]`);
    await pageB.waitForSelector(`${li(ids[0])}[data-seen="true"]`);
    assert.equal(await pageB.locator(`${li(ids[40])} button.mark-seen`).count(), 0);
    assert.equal(await pageB.locator(`${li(ids[41])} button.mark-seen`).count(), 1);
    // Reads allowed again: the next message marks the rest read; no "Mark
    // seen" is left once the conversation is read.
    await pageB.unroute('**/api/user/*/read', refuseReads);
    const fresh = await send(t1, 2, { type: 'text', text: 'one more' });
    ids.push(fresh);
    await pageB.waitForSelector(`${li(fresh)}[data-seen="true"]`, { timeout: 10_000 });
    await pageB.waitForFunction(() => document.querySelectorAll('#messages button.mark-seen').length === 0);
    await pageA.waitForSelector(`${li(fresh)} .seen`); // and user 1 sees it "seen"

    // Inline edit on page A: no prompt; a message arriving meanwhile keeps
    // the draft and the caret; Enter saves and page B shows it.
    const target = ids[60]; // "old 060" (ids[57] is the image)
    await pageA.click(`${li(target)} button.edit`);
    const editor = pageA.locator(`${li(target)} .edit-input`);
    assert.equal(await editor.inputValue(), 'old 060');
    await editor.fill('edited inline');
    const reply = await send(t2, 1, { type: 'text', text: 'while you edit' });
    await pageA.waitForSelector(li(reply));
    assert.equal(await editor.inputValue(), 'edited inline');
    assert.ok(await editor.evaluate((e) => e === document.activeElement), 'the editor lost focus');
    mkdirSync(outDir, { recursive: true });
    const shotEdit = join(outDir, 'demo-inline-edit.png');
    await pageA.screenshot({ path: shotEdit });
    await editor.press('Enter');
    await waitMessages(pageB, (ms) => ms.some((m) => m.id === target && m.text === 'edited inline' && m.edited), 'the edit on page B');
    assert.equal(await pageA.locator('#messages .edit-input').count(), 0);
    // An edit keeps the read state: still seen on both sides, no "Mark seen".
    await pageA.waitForSelector(`${li(target)}[data-edited="true"]`);
    assert.equal(await pageA.locator(`${li(target)} .seen`).count(), 1, 'the edit lost "seen" on page A');
    assert.equal(await pageB.locator(`${li(target)}[data-seen="true"]`).count(), 1, 'the edit lost "seen" on page B');
    assert.equal(await pageB.locator(`${li(target)} button.mark-seen`).count(), 0);
    // Escape drops an edit: nothing is sent.
    await pageA.click(`${li(ids[59])} button.edit`);
    await pageA.fill(`${li(ids[59])} .edit-input`, 'never saved');
    await pageA.press(`${li(ids[59])} .edit-input`, 'Escape');
    assert.equal(await pageA.locator(`${li(ids[59])} .text`).textContent(), 'old 059');
    assert.equal(await pageA.locator(`${li(ids[59])}[data-edited="true"]`).count(), 0);

    // Delete asks first, in place: Cancel keeps the message, Delete removes it.
    const doomed = ids[59];
    await pageA.click(`${li(doomed)} button.delete`);
    await pageA.waitForSelector(`${li(doomed)} button.confirm-delete`);
    assert.equal(await pageA.locator(`${li(doomed)} .confirm-text`).textContent(), 'Delete this message?');
    const shotConfirm = join(outDir, 'demo-delete-confirm.png');
    await pageA.screenshot({ path: shotConfirm });
    await pageA.click(`${li(doomed)} button.cancel-delete`);
    assert.equal(await pageA.locator(`${li(doomed)} button.confirm-delete`).count(), 0);
    const still = await parley.rest('GET', `/api/user/2?before=${ids[60]}&limit=1`, t1);
    assert.deepEqual(still.body.messages.map((m) => m.id), [doomed], 'Cancel deleted the message');
    await pageA.click(`${li(doomed)} button.delete`);
    await pageA.click(`${li(doomed)} button.confirm-delete`);
    await waitMessages(pageB, (ms) => !ms.some((m) => m.id === doomed), 'the delete on page B');
    await waitMessages(pageA, (ms) => !ms.some((m) => m.id === doomed), 'the delete on page A');

    // An error shows in a bar under the header: the header and the composer
    // stay on screen, the page itself does not scroll; × dismisses it.
    await pageA.fill('#composer-text', 'x'.repeat(4001));
    await pageA.click('#send');
    await pageA.waitForSelector('#error:not([hidden])');
    assert.notEqual((await pageA.locator('#error-text').textContent()).trim(), '');
    assert.ok(await onScreen(pageA, 'header'), 'the header left the screen');
    assert.ok(await onScreen(pageA, '#composer'), 'the composer left the screen');
    assert.ok(await onScreen(pageA, '#error-close'), 'the close button is off screen');
    assert.ok(await pageA.evaluate(() => document.scrollingElement.scrollHeight <= innerHeight), 'the page overflows');
    const shotError = join(outDir, 'demo-error-bar.png');
    await pageA.screenshot({ path: shotError });
    await pageA.click('#error-close');
    assert.equal(await pageA.locator('#error').isHidden(), true);
    await pageA.fill('#composer-text', '');

    // No pane for oneself or a malformed id: an inline note, the open
    // conversation stays.
    await pageA.fill('#new-peer', '1');
    await pageA.click('#open-peer');
    await pageA.waitForSelector('#peer-hint:not([hidden])');
    assert.match(await pageA.locator('#peer-hint').textContent(), /That is you/);
    assert.equal(await pageA.locator('#peer-title').getAttribute('data-peer'), '2');
    await pageA.fill('#new-peer', 'no such/user');
    await pageA.click('#open-peer');
    assert.match(await pageA.locator('#peer-hint').textContent(), /is not a user id/);
    assert.equal(await pageA.locator('#peer-title').getAttribute('data-peer'), '2');

    // The favicon is an inline SVG the page's policy lets it load.
    const icon = await pageA.evaluate(async () => {
      const href = document.querySelector('link[rel="icon"]').href;
      const im = new Image();
      im.src = href;
      await im.decode();
      return { scheme: href.slice(0, 19), width: im.naturalWidth };
    });
    assert.deepEqual(icon, { scheme: 'data:image/svg+xml,', width: 32 });

    await pageB.$eval('#scroller', (sc) => { sc.scrollTop = sc.scrollHeight; });
    const shot1 = join(outDir, 'demo-features-user1.png');
    const shot2 = join(outDir, 'demo-features-user2.png');
    await pageA.screenshot({ path: shot1 });
    await pageB.screenshot({ path: shot2 });
    for (const p of [shot1, shot2, shotEdit, shotConfirm, shotError]) console.log(`demo screenshot: ${p}`);

    assert.deepEqual(A.dialogs, []);
    assert.deepEqual(B.dialogs, []);
    assert.deepEqual(A.errors, []);
    assert.deepEqual(B.errors, []);
  } finally {
    await pageA.close();
    await pageB.close();
    await images.close();
  }

  // Opened as oneself from the address: no pane, the note instead.
  const C = await openDemo(parley, `#token=${encodeURIComponent(t1)}&peer=1`);
  try {
    await waitLive(C.page);
    await C.page.waitForSelector('#peer-hint:not([hidden])');
    assert.match(await C.page.locator('#peer-hint').textContent(), /That is you/);
    assert.equal(await C.page.locator('#scroller').isHidden(), true);
    assert.equal(await C.page.locator('#placeholder').isVisible(), true);
    assert.equal(await C.page.locator('#peer-title').getAttribute('data-peer'), null);
    const shot = join(outDir, 'demo-self-chat.png');
    await C.page.screenshot({ path: shot });
    console.log(`demo screenshot: ${shot}`);
    assert.deepEqual(C.errors, []);
  } finally {
    await C.page.close();
  }
});

test('demo page: a refused token goes back to the token form', async () => {
  const parley = await start();
  servers.add(parley);
  const { page, errors } = await openDemo(parley, '#token=not-a-token');
  try {
    await page.waitForSelector('#login:not([hidden])');
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.locator('#error-text').textContent(), /^Token refused/);
    assert.equal(await statusOf(page), 'signed-out');
    // Not dev mode: no dev users are offered.
    assert.equal(await page.locator('#dev-users button').count(), 0);
    // Pasting a good token signs in.
    await page.fill('#token-input', parley.token(7));
    await page.click('#token-use');
    await waitLive(page);
    assert.equal(await page.locator('#whoami').textContent(), 'signed in as user 7');
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
  }
});

test('demo page in dev mode (embedded store, no JWT secret) offers the dev users', async () => {
  const parley = await start({ PARLEY_REDIS_URL: undefined, PARLEY_JWT_SECRET: undefined, PARLEY_KEY_PREFIX: `jstest:${randomName()}:` });
  servers.add(parley);
  const { page, errors } = await openDemo(parley);
  try {
    // `/` on the dev server links to the demo.
    await page.goto(`${parley.url}/`);
    mkdirSync(outDir, { recursive: true });
    const shot = join(outDir, 'demo-home.png');
    await page.screenshot({ path: shot });
    console.log(`demo screenshot: ${shot}`);
    await page.click('a[href="/demo"]');
    await page.waitForURL(`${parley.url}/demo`);
    await page.click('#dev-users button:text-is("Use dev user 1")', { timeout: 10_000 });
    await waitLive(page);
    assert.equal(await page.locator('#whoami').textContent(), 'signed in as user 1');
    assert.equal(await page.locator('#dev-users button:text-is("Use dev user 2")').count(), 1);

    // The dev users can talk: user 1 opens user 2 and sends.
    await page.fill('#new-peer', '2');
    await page.click('#open-peer');
    await page.fill('#composer input', 'hi from dev user 1');
    await page.click('#send');
    await waitMessages(page, (ms) => ms.length === 1 && ms[0].text === 'hi from dev user 1', 'dev-mode send');
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
  }
});

test('SIGTERM with a demo page open exits 0 promptly', async () => {
  const parley = await start();
  const { page } = await openDemo(parley, `#token=${encodeURIComponent(parley.token(1))}`);
  try {
    await waitLive(page);
    const t0 = Date.now();
    const { code, signal } = await parley.stop();
    const took = Date.now() - t0;
    cleanup(parley);
    assert.equal(signal, null);
    assert.equal(code, 0, `exit ${code} after ${took}ms: ${parley.output()}`);
    assert.ok(took < 3000, `SIGTERM took ${took}ms`);
  } finally {
    await page.close();
  }
});
