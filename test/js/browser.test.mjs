// Browser test: a page on another origin loads the socket.io-client browser
// bundle (built here with esbuild, no CDN), connects to Parley in headless
// Chromium (Debian's /usr/bin/chromium via playwright-core) and renders the
// messages it receives; Node sends them over REST.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';
import { chromium } from 'playwright-core';

import { startParley } from './lib/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Parley realtime</title>
<style>body{font:16px sans-serif;margin:2em} li{margin:.3em 0} #state{color:#666}</style>
</head><body>
<h1>Parley realtime</h1>
<p id="state">connecting</p>
<ul id="messages"></ul>
<script src="/socket.io.js"></script>
<script src="/app.js"></script>
</body></html>`;

// The page reads server, token and transports from the URL hash.
const APP = `(() => {
  const p = new URLSearchParams(location.hash.slice(1));
  const opts = { auth: { token: p.get('token') }, reconnection: false };
  if (p.get('transports')) opts.transports = p.get('transports').split(',');
  const state = document.getElementById('state');
  const socket = parleyIO.io(p.get('server'), opts);
  window.socket = socket;
  socket.on('connect', () => {
    state.textContent = 'connected';
    document.body.dataset.state = 'connected';
  });
  socket.on('connect_error', (err) => {
    state.textContent = 'connect_error: ' + err.message;
    document.body.dataset.state = 'error';
    document.body.dataset.error = err.message;
    document.body.dataset.errorData = JSON.stringify(err.data ?? null);
  });
  socket.on('message:new', (ev) => {
    const li = document.createElement('li');
    li.className = 'message';
    li.dataset.with = String(ev.with);
    li.textContent = ev.entry.text;
    document.getElementById('messages').append(li);
  });
})();`;

let parley, page0, browser, bundle;

before(async () => {
  const out = await build({
    stdin: { contents: "export { io } from 'socket.io-client';", resolveDir: here, loader: 'js' },
    bundle: true, format: 'iife', globalName: 'parleyIO', platform: 'browser', target: 'es2020',
    minify: true, write: false, logLevel: 'silent',
  });
  bundle = out.outputFiles[0].text;

  page0 = createServer((req, res) => {
    const path = req.url.split('?')[0];
    const files = { '/': ['text/html', PAGE], '/app.js': ['text/javascript', APP], '/socket.io.js': ['text/javascript', bundle] };
    const f = files[path];
    if (!f) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'Content-Type': `${f[0]}; charset=utf-8`, 'Cache-Control': 'no-store' }).end(f[1]);
  });
  await new Promise((ok) => page0.listen(0, '127.0.0.1', ok));
  const pagePort = page0.address().port;

  parley = await startParley({ env: { PARLEY_CORS_ORIGINS: `http://127.0.0.1:${pagePort}` } });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (page0 ? page0.close(ok) : ok()));
  if (!parley) return;
  const { code, signal } = await parley.stop();
  parley.cleanup();
  assert.equal(signal, null, parley.output());
  assert.equal(code, 0, parley.output());
});

function pageURL(origin, hash) {
  return `${origin}/#${new URLSearchParams({ server: parley.url, ...hash })}`;
}

async function openPage(origin, hash) {
  const page = await browser.newPage();
  const errors = [];
  const consoleLog = [];
  page.on('pageerror', (e) => errors.push(e));
  page.on('console', (m) => consoleLog.push(m.text()));
  await page.goto(pageURL(origin, hash));
  return { page, errors, consoleLog };
}

const allowedOrigin = () => `http://127.0.0.1:${page0.address().port}`;

for (const transports of ['', 'polling', 'websocket']) {
  test(`page on an allowed origin renders message:new (${transports || 'default transports'})`, async () => {
    const hash = { token: parley.token(101) };
    if (transports) hash.transports = transports;
    const { page, errors } = await openPage(allowedOrigin(), hash);
    try {
      await page.waitForFunction(() => document.body.dataset.state, null, { timeout: 10_000 });
      assert.equal(await page.evaluate(() => document.body.dataset.state), 'connected',
        await page.evaluate(() => document.getElementById('state').textContent));
      if (transports) {
        assert.equal(await page.evaluate(() => window.socket.io.engine.transport.name), transports);
      }

      const text = `hello browser ${transports || 'default'} ${Date.now()}`;
      const sent = await parley.rest('POST', '/api/user/101', parley.token(102), { type: 'text', text });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      const item = page.locator('li.message', { hasText: text });
      await item.waitFor({ timeout: 10_000 });
      assert.equal(await item.getAttribute('data-with'), '102');
      assert.equal(await page.locator('li.message').count(), 1);

      if (!transports) {
        mkdirSync(join(here, 'out'), { recursive: true });
        await page.screenshot({ path: join(here, 'out', 'browser.png') });
      }
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
}

test('page on another origin is refused by CORS (polling)', async () => {
  // localhost and 127.0.0.1 are different origins; only the latter is allowed.
  const origin = `http://localhost:${page0.address().port}`;
  const { page, consoleLog } = await openPage(origin, { token: parley.token(103), transports: 'polling' });
  try {
    await page.waitForFunction(() => document.body.dataset.state, null, { timeout: 10_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'error');
    assert.equal(await page.evaluate(() => document.body.dataset.error), 'xhr poll error');
    assert.ok(consoleLog.some((m) => m.includes('CORS policy')), `no CORS error in the console: ${consoleLog.join('\n')}`);
  } finally {
    await page.close();
  }

  // The same, seen from Node: the allowed origin is echoed, the other is not.
  const poll = `${parley.url}/socket.io/?EIO=4&transport=polling`;
  const ok = await fetch(poll, { headers: { Origin: allowedOrigin() } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('access-control-allow-origin'), allowedOrigin());
  await ok.arrayBuffer();
  const other = await fetch(poll, { headers: { Origin: origin } });
  // (The Go engine.io answers "false" rather than leaving the header out;
  // either way no browser accepts it.)
  assert.ok([null, 'false'].includes(other.headers.get('access-control-allow-origin')),
    `Access-Control-Allow-Origin: ${other.headers.get('access-control-allow-origin')}`);
  await other.arrayBuffer();
});

test('page with a bad token gets connect_error unauthorized', async () => {
  const { page } = await openPage(allowedOrigin(), { token: 'bad' });
  try {
    await page.waitForFunction(() => document.body.dataset.state, null, { timeout: 10_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.error), 'unauthorized');
    assert.deepEqual(JSON.parse(await page.evaluate(() => document.body.dataset.errorData)),
      { error: true, code: 'INVALID_TOKEN_ERR', name: 'JsonWebTokenError', message: 'token is malformed (not a JWT)', status: 401 });
  } finally {
    await page.close();
  }
});
