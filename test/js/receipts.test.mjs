// Read receipts, idempotent send and blocking seen by the official
// socket.io-client (Node) against the real Parley binary and a real Redis.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';

import { connected, next, sleep, startParley } from './lib/harness.mjs';

let srv;
const sockets = [];

before(async () => {
  srv = await startParley();
});

after(async () => {
  while (sockets.length) sockets.pop().close();
  if (!srv) return;
  const { code } = await srv.stop();
  srv.cleanup();
  assert.equal(code, 0, `parley exited ${code}:\n${srv.output()}`);
});

async function client(user) {
  const s = io(srv.url, { reconnection: false, forceNew: true, timeout: 5000, auth: { token: srv.token(user) } });
  sockets.push(s);
  const log = [];
  s.onAny((event, ...args) => log.push({ event, args }));
  await connected(s);
  return { s, log };
}

async function until(log, pred, what, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = log.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms: ${JSON.stringify(log)}`);
    await sleep(10);
  }
}

test('reading up to a message sends message:read to both parties; the list counts unread', async () => {
  const [a, b] = [await client(101), await client(102)];
  const ids = [];
  for (const text of ['one', 'two', 'three']) {
    const r = await srv.rest('POST', '/api/user/102', srv.token(101), { text });
    assert.equal(r.status, 201);
    ids.push(r.body.entry.id);
  }
  let list = await srv.rest('GET', '/api/list', srv.token(102));
  assert.equal(list.body.unread, 3);
  assert.equal(list.body.entries[0].unread, 3);
  assert.equal(list.body.entries[0].last_read, null);

  const r = await srv.rest('POST', '/api/user/101/read', srv.token(102), { upTo: ids[1] });
  assert.equal(r.status, 200);
  assert.equal(r.body.unread, 1);
  for (const [who, c, withId] of [['sender', a, 102], ['reader', b, 101]]) {
    const ev = await until(c.log, (e) => e.event === 'message:read', `${who} message:read`);
    assert.equal(ev.args[0].upTo, ids[1], who);
    assert.equal(ev.args[0].by, 102, who);
    assert.equal(ev.args[0].with, withId, who);
    assert.ok(ev.args[0].eventId > 3, who);
  }
  list = await srv.rest('GET', '/api/list', srv.token(102));
  assert.equal(list.body.entries[0].unread, 1);
  assert.equal(list.body.entries[0].last_read.id, ids[1]);
});

test('a retried client_id returns the first message with 200 and the peer sees it once', async () => {
  const b = await client(202);
  const body = { text: 'once', client_id: 'js-retry-1' };
  const first = await srv.rest('POST', '/api/user/202', srv.token(201), body);
  const again = await srv.rest('POST', '/api/user/202', srv.token(201), body);
  assert.equal(first.status, 201);
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, first.body);
  await until(b.log, (e) => e.event === 'message:new', 'message:new');
  await sleep(300);
  assert.equal(b.log.filter((e) => e.event === 'message:new').length, 1, JSON.stringify(b.log));
  const clash = await srv.rest('POST', '/api/user/202', srv.token(201), { text: 'other', client_id: 'js-retry-1' });
  assert.equal(clash.status, 409);
  assert.equal(clash.body.code, 'CONFLICT');
});

test('a blocked sender gets 403 and the blocker receives nothing', async () => {
  const b = await client(302);
  assert.equal((await srv.rest('POST', '/api/block/301', srv.token(302))).status, 200);
  const r = await srv.rest('POST', '/api/user/302', srv.token(301), { text: 'let me in' });
  assert.equal(r.status, 403);
  assert.deepEqual(Object.keys(r.body).sort(), ['code', 'error', 'message', 'name', 'status']);
  await sleep(300);
  assert.deepEqual(b.log, []);
});
