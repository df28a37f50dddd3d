// Shared helpers for the JS suites: build and run the real Parley binary
// against a real Redis, mint HS256 tokens, call REST, and wait for events.
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const redisURL = process.env.PARLEY_TEST_REDIS_URL || 'redis://127.0.0.1:6379/0';

/** A random [a-z0-9] string of n characters. */
export function randomName(n = 12) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(n), (b) => alphabet[b % alphabet.length]).join('');
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** An HS256 JWT for claims signed with secret. */
export function signToken(secret, claims) {
  const head = b64url({ alg: 'HS256', typ: 'JWT' }) + '.' + b64url(claims);
  return head + '.' + createHmac('sha256', secret).update(head).digest('base64url');
}

/**
 * Builds the server once per process: $PARLEY_BIN when set, else
 * `go build -o <tmp>/parley <repo>`.
 */
let built;
export function buildServer() {
  if (process.env.PARLEY_BIN) return process.env.PARLEY_BIN;
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), 'parley-js-'));
  const bin = join(dir, 'parley');
  const env = { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin` };
  const r = spawnSync('go', ['build', '-o', bin, '.'], { cwd: repoRoot, env, encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`go build failed: ${r.error ?? ''}\n${r.stdout}${r.stderr}`);
  }
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  built = bin;
  return bin;
}

/**
 * Starts Parley and waits for GET /healthz. The returned handle has url,
 * port, secret, token(user, ttlSeconds), rest(...), stop() and restart().
 */
export async function startParley({ env = {}, port } = {}) {
  const bin = buildServer();
  port ??= await freePort();
  const cfg = {
    PARLEY_HTTP_ADDR: `127.0.0.1:${port}`,
    PARLEY_REDIS_URL: redisURL,
    PARLEY_JWT_SECRET: randomBytes(24).toString('hex'),
    PARLEY_KEY_PREFIX: `jstest:${randomName()}:`,
    PARLEY_DEFAULT_DOMAIN: randomName(),
    PARLEY_LOG_LEVEL: 'warn',
    PARLEY_METRICS_ADDR: '', // no fixed metrics port: servers run side by side
    PARLEY_SHUTDOWN_TIMEOUT: '5s',
    PARLEY_SEND_RATE: '0', // tests send bursts; the budgets have their own tests
    PARLEY_WRITE_RATE: '0',
    ...env,
  };
  return launch(bin, cfg, port);
}

async function launch(bin, cfg, port) {
  const childEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...cfg };
  const child = spawn(bin, [], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
  const url = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`parley exited before it was healthy (${child.exitCode ?? child.signalCode}):\n${output}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`parley not healthy within 15s:\n${output}`);
    }
    await sleep(50);
  }

  const h = {
    url, port, cfg, child,
    secret: cfg.PARLEY_JWT_SECRET,
    output: () => output,
    /** A token for user (a number) expiring in ttl seconds (negative: already expired). */
    token(user, ttl = 3600) {
      return signToken(cfg.PARLEY_JWT_SECRET, { user_id: user, exp: Math.floor(Date.now() / 1000) + ttl });
    },
    /** A REST call as token; resolves { status, body }. */
    async rest(method, path, token, body) {
      const headers = { 'X-Auth-Token': token };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await fetch(url + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      const text = await res.text();
      let json;
      try { json = JSON.parse(text); } catch { json = text; }
      return { status: res.status, body: json };
    },
    /** SIGTERM; resolves the exit { code, signal } (SIGKILL after 10s). */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
    /** Stops, then starts again with the same config (same port, secret, prefix). */
    async restart() {
      const r = await h.stop();
      return { exit: r, server: await launch(bin, cfg, port) };
    },
    /** Best-effort removal of this run's Redis keys (needs redis-cli). */
    cleanup() {
      const scan = spawnSync('redis-cli', ['-u', redisURL, '--scan', '--count', '10000', '--pattern', `${cfg.PARLEY_KEY_PREFIX}*`], { encoding: 'utf8' });
      if (scan.status !== 0) return;
      const keys = scan.stdout.split('\n').filter(Boolean);
      for (let i = 0; i < keys.length; i += 200) {
        spawnSync('redis-cli', ['-u', redisURL, 'DEL', ...keys.slice(i, i + 200)]);
      }
    },
  };
  return h;
}

export const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** Resolves the first argument of the next `event` on emitter, rejects after ms. */
export function next(emitter, event, ms = 5000) {
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      fail(new Error(`timed out after ${ms}ms waiting for ${event}`));
    }, ms);
    function on(...args) {
      clearTimeout(timer);
      emitter.off(event, on);
      ok(args[0]);
    }
    emitter.on(event, on);
  });
}

/** Resolves when socket is connected; rejects with the connect_error. */
export function connected(socket, ms = 5000) {
  if (socket.connected) return Promise.resolve();
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => { cleanup(); fail(new Error(`no connect within ${ms}ms`)); }, ms);
    const onConnect = () => { cleanup(); ok(); };
    const onError = (err) => { cleanup(); fail(err); };
    function cleanup() {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    }
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}
