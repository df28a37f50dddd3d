// Legacy mode (PARLEY_LEGACY_SOCKETS=true): apps written for the seed
// (Socket.IO 1.x + socketio-jwt) with socket.io-client 2.x and 1.7, which
// speak Engine.IO v3, connect without a token, emit "authenticate" and
// receive "new-message" with the REST send response's entry.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, afterEach, before, describe, test } from 'node:test';
import { io as io4 } from 'socket.io-client';

import { next, sleep, startParley } from './lib/harness.mjs';

const require = createRequire(import.meta.url);
const io2 = require('socket.io-client-v2');
let io1;
try { io1 = require('socket.io-client-v1'); } catch { /* optional: npm install in test/js */ }

let legacy; // a server with the flag
let plain; // one without
const sockets = [];

before(async () => {
  [legacy, plain] = await Promise.all([
    startParley({ env: { PARLEY_LEGACY_SOCKETS: 'true' } }),
    startParley(),
  ]);
});

afterEach(() => {
  while (sockets.length) sockets.pop().close();
});

after(async () => {
  while (sockets.length) sockets.pop().close();
  for (const srv of [legacy, plain]) {
    if (!srv) continue;
    const { code, signal } = await srv.stop();
    srv.cleanup();
    assert.equal(signal, null, `parley was killed by ${signal}:\n${srv.output()}`);
    assert.equal(code, 0, `parley exited ${code}:\n${srv.output()}`);
  }
});

/** A seed-era client: no token in the handshake, no reconnection. */
function old(srv, io = io2) {
  const s = io(srv.url, { reconnection: false, forceNew: true, timeout: 5000 });
  sockets.push(s);
  // Every event the socket receives, in order.
  s.log = [];
  const onevent = s.onevent;
  s.onevent = function (packet) {
    s.log.push({ event: packet.data[0], args: packet.data.slice(1) });
    return onevent.call(this, packet);
  };
  return s;
}

/** Connects, authenticates the seed's way, resolves once "authenticated". */
async function login(s, token) {
  await next(s, 'connect');
  const ok = next(s, 'authenticated');
  s.emit('authenticate', { token });
  await ok;
}

async function until(log, n, ms = 5000) {
  const deadline = Date.now() + ms;
  while (log.length < n) {
    if (Date.now() > deadline) throw new Error(`got ${log.length} events, want ${n}: ${JSON.stringify(log)}`);
    await sleep(10);
  }
}

describe('legacy mode on', () => {
  test('socket.io-client 2: authenticate, then new-message to both parties and every device, the send entry exactly', async () => {
    const [a, b] = [3101, 3102];
    const a1 = old(legacy), a2 = old(legacy), b1 = old(legacy);
    const idle = old(legacy); // connected, never authenticates
    await Promise.all([login(a1, legacy.token(a)), login(a2, legacy.token(a)), login(b1, legacy.token(b)),
      next(idle, 'connect')]);
    // A current client of b's, authenticated in the handshake.
    const cur = io4(legacy.url, { reconnection: false, forceNew: true, auth: { token: legacy.token(b) } });
    sockets.push(cur);
    const curLog = [];
    cur.onAny((event, ...args) => curLog.push({ event, args }));
    await next(cur, 'connect');

    const sent = await legacy.rest('POST', `/api/user/${b}`, legacy.token(a), { type: 'text', text: 'Hello, world!' });
    assert.equal(sent.status, 201);
    for (const s of [a1, a2, b1]) {
      await until(s.log, 2);
      assert.deepEqual(s.log, [{ event: 'authenticated', args: [] }, { event: 'new-message', args: [sent.body.entry] }]);
    }
    await until(curLog, 1);
    assert.equal(curLog[0].event, 'message:new');
    assert.deepEqual(curLog[0].args[0].entry, sent.body.entry);
    assert.ok(curLog[0].args[0].eventId > 0);

    // Edits and deletes are not sent to legacy sockets (the seed had no
    // such events): after an edit, the next event is the next message.
    const id = sent.body.entry.id;
    assert.equal((await legacy.rest('POST', `/api/user/${b}/${id}`, legacy.token(a), { text: 'edited' })).status, 200);
    const img = await legacy.rest('POST', `/api/user/${a}`, legacy.token(b),
      { type: 'image', image: 'https://example.com/cat.png' });
    assert.equal(img.status, 201, JSON.stringify(img.body));
    for (const s of [a1, a2, b1]) {
      await until(s.log, 3);
      assert.deepEqual(s.log[2], { event: 'new-message', args: [img.body.entry] });
    }
    await until(curLog, 3);
    assert.deepEqual(curLog.map((e) => e.event), ['message:new', 'message:edit', 'message:new']);
    assert.ok(!curLog.some((e) => e.event === 'new-message'));
    // The socket that never authenticated received nothing.
    assert.deepEqual(idle.log, []);
    assert.equal(idle.connected, true);
  });

  test('wrong token: unauthorized with the socketio-jwt payload, then a disconnect', async () => {
    const s = old(legacy);
    await next(s, 'connect');
    const refused = next(s, 'unauthorized');
    const gone = next(s, 'disconnect');
    s.emit('authenticate', { token: 'not.a.jwt' });
    const err = await refused;
    assert.equal(typeof err.message, 'string');
    assert.ok(err.message.length > 0);
    assert.deepEqual(err.data, { message: err.message, code: 'invalid_token', type: 'UnauthorizedError' });
    assert.equal(await gone, 'io server disconnect');
    // Signed with another secret: refused the same way.
    const s2 = old(legacy);
    await next(s2, 'connect');
    const refused2 = next(s2, 'unauthorized');
    s2.emit('authenticate', { token: plain.token(3101) });
    assert.equal((await refused2).data.code, 'invalid_token');
  });

  test('no authenticate within 15s: closed, nothing received', async () => {
    const s = old(legacy);
    await next(s, 'connect');
    const t0 = Date.now();
    await next(s, 'disconnect', 25_000);
    assert.ok(Date.now() - t0 >= 14_000, `closed after ${Date.now() - t0}ms`);
    assert.deepEqual(s.log, []);
  });

  test('socket.io-client 1.7: authenticate, then new-message', { skip: io1 ? false : 'npm install in test/js (socket.io-client-v1)' }, async () => {
    const s = old(legacy, io1);
    await login(s, legacy.token(3201));
    const sent = await legacy.rest('POST', '/api/user/3201', legacy.token(3202), { type: 'text', text: 'from 2016' });
    assert.equal(sent.status, 201);
    await until(s.log, 2);
    assert.deepEqual(s.log[1], { event: 'new-message', args: [sent.body.entry] });
  });
});

describe('legacy mode off', () => {
  test('socket.io-client 2 gets a connect_error; the handshake says why', async () => {
    const s = old(plain);
    const err = await next(s, 'connect_error');
    assert.equal(s.connected, false);
    assert.equal(err.description, 400);
    const res = await fetch(`${plain.url}/socket.io/?EIO=3&transport=polling`);
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.code, 'UNSUPPORTED_PROTOCOL');
    assert.match(body.message, /PARLEY_LEGACY_SOCKETS=true/);
  });
});
