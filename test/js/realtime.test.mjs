// Realtime tests with the official socket.io-client (Node) against the real
// Parley binary and a real Redis.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { io } from 'socket.io-client';

import { connected, next, signToken, sleep, startParley } from './lib/harness.mjs';

let srv;
const sockets = [];

before(async () => {
  // Leeway 0 so a socket's lifetime is exactly its token's.
  srv = await startParley({ env: { PARLEY_JWT_LEEWAY: '0s' } });
});

afterEach(() => {
  while (sockets.length) sockets.pop().close();
});

after(async () => {
  while (sockets.length) sockets.pop().close();
  if (!srv) return;
  const { code, signal } = await srv.stop();
  srv.cleanup();
  assert.equal(signal, null, `parley was killed by ${signal}:\n${srv.output()}`);
  assert.equal(code, 0, `parley exited ${code}:\n${srv.output()}`);
});

/** A client socket (tracked for cleanup); reconnection off unless asked. */
function client(opts = {}) {
  const s = io(srv.url, { reconnection: false, forceNew: true, timeout: 5000, ...opts });
  sockets.push(s);
  return s;
}

/** Records every event a socket receives. */
function record(socket) {
  const log = [];
  socket.onAny((event, ...args) => log.push({ event, args }));
  return log;
}

/** Waits until log holds n entries. */
async function until(log, n, ms = 5000) {
  const deadline = Date.now() + ms;
  while (log.length < n) {
    if (Date.now() > deadline) throw new Error(`got ${log.length} events, want ${n}: ${JSON.stringify(log)}`);
    await sleep(10);
  }
}

async function refused(opts) {
  const s = client(opts);
  const err = await next(s, 'connect_error');
  assert.equal(s.connected, false);
  return err;
}

describe('handshake auth', () => {
  test('auth: {token} connects', async () => {
    const s = client({ auth: { token: srv.token(1) } });
    await connected(s);
    assert.equal(s.connected, true);
  });

  test('query: {token} connects', async () => {
    const s = client({ query: { token: srv.token(1) } });
    await connected(s);
    assert.equal(s.connected, true);
  });

  test('X-Auth-Token header (polling) connects', async () => {
    const s = client({ transports: ['polling'], extraHeaders: { 'X-Auth-Token': srv.token(1) } });
    await connected(s);
    assert.equal(s.io.engine.transport.name, 'polling');
  });

  test('Authorization: Bearer header (polling) connects', async () => {
    const s = client({ transports: ['polling'], extraHeaders: { Authorization: `Bearer ${srv.token(1)}` } });
    await connected(s);
    assert.equal(s.connected, true);
  });

  test('no token is refused', async () => {
    const err = await refused({});
    assert.equal(err.message, 'unauthorized');
    assert.deepEqual(err.data, {
      error: true, code: 'NOT_AUTHENTICATED', name: 'UnauthenticatedError', status: 401,
      message: 'You are not authenticated: send X-Auth-Token or Authorization: Bearer',
    });
  });

  test('bad signature is refused', async () => {
    const forged = signToken('not-the-secret-not-the-secret-not', { user_id: 1, exp: Math.floor(Date.now() / 1000) + 3600 });
    const err = await refused({ auth: { token: forged } });
    assert.equal(err.message, 'unauthorized');
    assert.deepEqual(err.data, {
      error: true, code: 'INVALID_TOKEN_ERR', name: 'JsonWebTokenError', message: 'token signature is invalid', status: 401,
    });
  });

  test('garbage token is refused', async () => {
    const err = await refused({ auth: { token: 'not.a.jwt' } });
    assert.equal(err.message, 'unauthorized');
    assert.equal(err.data.status, 401);
    assert.equal(err.data.code, 'INVALID_TOKEN_ERR');
    assert.equal(err.data.name, 'JsonWebTokenError');
    assert.equal(err.data.error, true);
  });

  test('expired token is refused with "token expired"', async () => {
    const err = await refused({ auth: { token: srv.token(1, -60) } });
    assert.equal(err.message, 'token expired');
    assert.deepEqual(err.data, {
      error: true, code: 'INVALID_TOKEN_ERR', name: 'TokenExpiredError', message: 'token expired', status: 401,
    });
  });
});

describe('message events', () => {
  test('new, edit and delete reach both parties and all devices, nobody else', async () => {
    const t1 = srv.token(1), t2 = srv.token(2), t3 = srv.token(3);
    const a1 = client({ auth: { token: t1 } }); // user 1, device 1
    const a2 = client({ auth: { token: t1 } }); // user 1, device 2
    const b = client({ auth: { token: t2 } });  // user 2
    const c = client({ auth: { token: t3 } });  // user 3: a bystander
    const logs = [a1, a2, b, c].map(record);
    await Promise.all([a1, a2, b, c].map((s) => connected(s)));
    const [la1, la2, lb, lc] = logs;

    // message:new
    const sent = await srv.rest('POST', '/api/user/2', t1, { type: 'text', text: 'hello from 1' });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const { state, entry } = sent.body;
    assert.equal(entry.author, 1);
    assert.equal(entry.type, 'text');
    assert.equal(entry.text, 'hello from 1');
    assert.equal(typeof entry.id, 'string');
    assert.equal(typeof entry.timestamp.epoch, 'number');
    assert.equal(entry.timestamp.iso, new Date(entry.timestamp.epoch).toISOString());
    await Promise.all([until(la1, 1), until(la2, 1), until(lb, 1)]);
    for (const l of [la1, la2]) {
      assert.deepEqual(l[0], { event: 'message:new', args: [{ state, with: 2, entry, eventId: 1 }] });
    }
    assert.equal(lb[0].event, 'message:new');
    assert.equal(lb[0].args.length, 1);
    const bState = lb[0].args[0].state;
    assert.deepEqual(lb[0].args[0], { state: { key: state.key, inbox_key: bState.inbox_key }, with: 1, entry, eventId: 1 });
    assert.notEqual(bState.inbox_key, state.inbox_key);

    // The receiver's state is what REST answers the receiver: user 2 replies.
    const reply = await srv.rest('POST', '/api/user/1', t2, { type: 'text', text: 'hi 1, from 2' });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    assert.deepEqual(reply.body.state, bState);
    await Promise.all([until(la1, 2), until(la2, 2), until(lb, 2)]);
    for (const l of [la1, la2]) {
      assert.deepEqual(l[1], { event: 'message:new', args: [{ state, with: 2, entry: reply.body.entry, eventId: 2 }] });
    }
    assert.deepEqual(lb[1], { event: 'message:new', args: [{ state: bState, with: 1, entry: reply.body.entry, eventId: 2 }] });

    // message:edit
    const edited = await srv.rest('POST', `/api/user/2/${entry.id}`, t1, { text: 'hello from 1 (edited)' });
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    assert.equal(edited.body.entry.id, entry.id);
    assert.equal(edited.body.entry.text, 'hello from 1 (edited)');
    assert.equal(typeof edited.body.entry.edited?.epoch, 'number');
    assert.deepEqual(edited.body.state, state);
    await Promise.all([until(la1, 3), until(la2, 3), until(lb, 3)]);
    for (const l of [la1, la2]) {
      assert.deepEqual(l[2], { event: 'message:edit', args: [{ state, with: 2, entry: edited.body.entry, eventId: 3 }] });
    }
    assert.deepEqual(lb[2], { event: 'message:edit', args: [{ state: bState, with: 1, entry: edited.body.entry, eventId: 3 }] });

    // message:delete
    const deleted = await srv.rest('DELETE', `/api/user/2/${entry.id}`, t1);
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    assert.deepEqual(deleted.body.state, state);
    await Promise.all([until(la1, 4), until(la2, 4), until(lb, 4)]);
    for (const l of [la1, la2]) {
      assert.deepEqual(l[3], { event: 'message:delete', args: [{ state, with: 2, id: entry.id, eventId: 4 }] });
    }
    assert.deepEqual(lb[3], { event: 'message:delete', args: [{ state: bState, with: 1, id: entry.id, eventId: 4 }] });

    // Nothing more for the parties, nothing at all for the bystander.
    await sleep(300);
    assert.equal(la1.length, 4, JSON.stringify(la1));
    assert.equal(la2.length, 4, JSON.stringify(la2));
    assert.equal(lb.length, 4, JSON.stringify(lb));
    assert.deepEqual(lc, []);
  });

  test('a failed write emits nothing', async () => {
    const t1 = srv.token(1);
    const a = client({ auth: { token: t1 } });
    const log = record(a);
    await connected(a);
    const bad = await srv.rest('POST', '/api/user/2', t1, { type: 'text', text: '' });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    const missing = await srv.rest('DELETE', '/api/user/2/no-such-message', t1);
    assert.equal(missing.status, 404, JSON.stringify(missing.body));
    await sleep(300);
    assert.deepEqual(log, []);
  });
});

describe('typing and presence', () => {
  test('typing reaches the peer with an ack; presence online and offline reach DM peers', async () => {
    // Users of their own, so no other test's DMs see their presence.
    const t11 = srv.token(11), t12 = srv.token(12);
    const watcher = client({ auth: { token: t12 } });
    const log = record(watcher);
    await connected(watcher);
    const sent = await srv.rest('POST', '/api/user/12', t11, { type: 'text', text: 'a DM makes us peers' });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    await until(log, 1);
    assert.equal(log[0].event, 'message:new');

    // User 11's first device: 12 hears presence online.
    const typist = client({ auth: { token: t11 } });
    await connected(typist);
    await until(log, 2);
    const online = log[1];
    assert.equal(online.event, 'presence');
    assert.deepEqual(Object.keys(online.args[0]).sort(), ['at', 'id', 'online']);
    assert.equal(online.args[0].id, 11);
    assert.equal(online.args[0].online, true);
    assert.equal(online.args[0].at.iso, new Date(online.args[0].at.epoch).toISOString());

    // typing {to} with an ack; 12 gets {with, until}.
    const ack = await typist.timeout(5000).emitWithAck('typing', { to: 12 });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(typeof ack.until.epoch, 'number');
    await until(log, 3);
    assert.deepEqual(log[2], { event: 'typing', args: [{ with: 11, until: ack.until }] });
    const self = await typist.timeout(5000).emitWithAck('typing', { to: '11' });
    assert.deepEqual({ error: self.error, code: self.code, status: self.status }, { error: true, code: 'BAD_REQUEST', status: 400 });

    const p = await srv.rest('GET', '/api/presence?ids=11,12,13', t12);
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.deepEqual(p.body.presence.map((x) => [x.id, x.online]), [[11, true], [12, true], [13, false]]);
    assert.deepEqual(p.body.presence[0].at, online.args[0].at);
    assert.equal(p.body.presence[2].at, null);

    // The last device leaves: offline.
    typist.close();
    await until(log, 4);
    assert.equal(log[3].event, 'presence');
    assert.equal(log[3].args[0].id, 11);
    assert.equal(log[3].args[0].online, false);
    assert.ok(log[3].args[0].at.epoch >= online.args[0].at.epoch);
  });
});

describe('transports', () => {
  for (const transport of ['websocket', 'polling']) {
    test(`${transport}-only clients receive events`, async () => {
      const t21 = srv.token(21), t22 = srv.token(22);
      const a = client({ transports: [transport], auth: { token: t21 } });
      const b = client({ transports: [transport], auth: { token: t22 } });
      await Promise.all([connected(a), connected(b)]);
      assert.equal(a.io.engine.transport.name, transport);
      assert.equal(b.io.engine.transport.name, transport);
      const got = [next(a, 'message:new'), next(b, 'message:new')];
      const sent = await srv.rest('POST', '/api/user/22', t21, { type: 'text', text: `via ${transport}` });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      const [ea, eb] = await Promise.all(got);
      assert.ok(Number.isInteger(ea.eventId) && ea.eventId >= 1, `eventId ${ea.eventId}`);
      assert.deepEqual(ea, { state: sent.body.state, with: 22, entry: sent.body.entry, eventId: ea.eventId });
      assert.equal(eb.with, 21);
      assert.deepEqual(eb.entry, sent.body.entry);
    });
  }

  test('polling upgrades to websocket and still receives', async () => {
    const t = srv.token(23);
    const a = client({ auth: { token: t } });
    await connected(a);
    if (a.io.engine.transport.name !== 'websocket') await next(a.io.engine, 'upgrade');
    assert.equal(a.io.engine.transport.name, 'websocket');
    const got = next(a, 'message:new');
    const sent = await srv.rest('POST', '/api/user/24', t, { type: 'text', text: 'after upgrade' });
    assert.equal(sent.status, 201);
    assert.deepEqual((await got).entry, sent.body.entry);
  });
});

describe('lifecycle', () => {
  test('automatic reconnection after a server restart', async () => {
    const t31 = srv.token(31), t32 = srv.token(32);
    const a = client({ auth: { token: t31 }, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500 });
    await connected(a);
    const firstID = a.id;
    const disconnected = next(a, 'disconnect', 10_000);

    const { exit, server } = await srv.restart();
    srv = server;
    assert.deepEqual(exit, { code: 0, signal: null });
    const reason = await disconnected;
    // A shutdown must look like a transport loss ("io server disconnect"
    // would turn automatic reconnection off).
    assert.ok(['transport close', 'transport error'].includes(reason), `disconnect reason ${reason}`);
    if (!a.connected) await next(a, 'connect', 10_000);
    assert.equal(a.connected, true);
    assert.notEqual(a.id, firstID);

    const got = next(a, 'message:new');
    const sent = await srv.rest('POST', '/api/user/31', t32, { type: 'text', text: 'after restart' });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    assert.deepEqual(await got, { state: { key: sent.body.state.key, inbox_key: 'user-32' }, with: 32, entry: sent.body.entry, eventId: 1 });
  });

  test('session:expired when the token expires, then reconnect with a fresh token', async () => {
    // exp is in whole seconds: 2–3 s from now.
    const exp = Math.ceil(Date.now() / 1000) + 2;
    const short = signToken(srv.secret, { user_id: 41, exp });
    const a = client({ auth: { token: short } });
    const log = record(a);
    await connected(a);
    const expired = next(a, 'session:expired', 6000);
    const gone = next(a, 'disconnect', 6000);
    assert.deepEqual(await expired, { reason: 'token expired' });
    assert.equal(await gone, 'io server disconnect');
    assert.ok(Date.now() >= exp * 1000 - 50, 'expired before exp');
    assert.deepEqual(log.map((e) => e.event), ['session:expired']);

    // The same token is now refused...
    const stale = client({ auth: { token: short } });
    const err = await next(stale, 'connect_error');
    assert.equal(err.message, 'token expired');

    // ...and the same socket comes back with a fresh one and gets events.
    a.auth = { token: srv.token(41) };
    a.connect();
    await connected(a);
    const got = next(a, 'message:new');
    const sent = await srv.rest('POST', '/api/user/42', srv.token(41), { type: 'text', text: 'fresh' });
    assert.equal(sent.status, 201);
    assert.deepEqual((await got).entry, sent.body.entry);
  });
});

describe('recovery', () => {
  test('cut off while 200 messages are sent, a client reconnecting with lastEventId gets exactly those 200 in order', async () => {
    const t41 = srv.token(41), t42 = srv.token(42);
    let lastEventId;
    const got = [];
    const c = client({ auth: (cb) => cb({ token: t42, lastEventId }), transports: ['websocket'] });
    c.on('message:new', (e) => { got.push(e); lastEventId = e.eventId; });
    await connected(c);

    const first = await srv.rest('POST', '/api/user/42', t41, { type: 'text', text: 'before' });
    assert.equal(first.status, 201);
    await until(got, 1);
    c.disconnect();

    const texts = [];
    for (let i = 0; i < 200; i++) {
      texts.push(`missed ${i}`);
      const r = await srv.rest('POST', '/api/user/42', t41, { type: 'text', text: texts[i] });
      assert.equal(r.status, 201);
    }
    c.connect();
    await until(got, 201, 20_000);
    await sleep(300); // nothing more may arrive: no duplicates
    assert.equal(got.length, 201);
    assert.deepEqual(got.slice(1).map((e) => e.entry.text), texts);
    got.forEach((e, i) => assert.equal(e.eventId, got[0].eventId + i, `eventId at ${i}`));
    console.log(`socket.io-client recovery: 200 missed messages delivered after lastEventId ${got[0].eventId}, 0 lost, 0 duplicated`);
  });
});
