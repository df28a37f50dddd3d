// Long-polling payload bound (PARLEY_POLLING_MAX_PACKETS) with the official
// socket.io-client: a replay sent one packet per poll, while the client
// upgrades to websocket mid-replay, arrives whole and in order (the server
// hands the packets it holds for the next polls to the websocket).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NodeWebSocket, NodeXHR } from 'engine.io-client';
import { io } from 'socket.io-client';

import { connected, sleep, startParley } from './lib/harness.mjs';

let srv;
const sockets = [];

before(async () => {
    // One packet per poll, so the server holds most of the replay while the
  // client upgrades.
  srv = await startParley({ env: { PARLEY_POLLING_MAX_PACKETS: '1' } });
});

after(async () => {
  while (sockets.length) sockets.pop().close();
  if (!srv) return;
  const { code, signal } = await srv.stop();
  srv.cleanup();
  assert.equal(signal, null, `parley was killed by ${signal}:\n${srv.output()}`);
  assert.equal(code, 0, `parley exited ${code}:\n${srv.output()}`);
});

test('a replay over bounded polling payloads survives the upgrade to websocket: 200 events, in order, once', async () => {
  const t51 = srv.token(51), t52 = srv.token(52);
  const texts = [];
  for (let i = 0; i < 200; i++) {
    texts.push(`missed ${i}`);
    const r = await srv.rest('POST', '/api/user/52', t51, { type: 'text', text: texts[i] });
    assert.equal(r.status, 201);
  }
  const got = [];
  let atUpgrade = -1;
  // The websocket opens only once 20 events have come over polling: the
  // upgrade then lands mid-replay, with the rest held by the server.
  class LateWebSocket extends NodeWebSocket {
    doOpen() {
      const wait = async () => {
        while (got.length < 20) await sleep(5);
        super.doOpen();
      };
      wait();
    }
  }
  const c = io(srv.url, {
    reconnection: false, forceNew: true, timeout: 5000, auth: { token: t52, lastEventId: 0 },
    transports: [NodeXHR, LateWebSocket],
  });
  sockets.push(c);
  c.io.on('open', () => c.io.engine.on('upgrade', () => { atUpgrade = got.length; }));
  c.on('message:new', (e) => got.push(e));
  let disconnected = '';
  c.on('disconnect', (reason) => { disconnected = reason; });
  await connected(c);
  const deadline = Date.now() + 20_000;
  while (got.length < 200 && !disconnected && Date.now() < deadline) await sleep(10);
  await sleep(300); // nothing more may arrive: no duplicates
  assert.equal(disconnected, '', 'the client was disconnected');
  assert.equal(got.length, 200, `got ${got.length} events`);
  assert.deepEqual(got.map((e) => e.entry.text), texts);
  got.forEach((e, i) => assert.equal(e.eventId, i + 1, `eventId at ${i}`));
  assert.equal(c.io.engine.transport.name, 'websocket');
  assert.ok(atUpgrade >= 20 && atUpgrade < 200, `upgraded after ${atUpgrade} events, want mid-replay`);
  console.log(`bounded polling: 200 replayed events in order, upgraded to websocket after ${atUpgrade} of them`);
});
