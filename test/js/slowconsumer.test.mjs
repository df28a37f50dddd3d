// The per-connection queue bound (PARLEY_CONN_QUEUE_MAX / _BYTES) with the
// official socket.io-client on every transport: with a queue of 10 packets a
// replay of 400 events is written 10 at a time, so delivery depends on
// Parley seeing each batch drain (polling responses, websocket writes, the
// upgrade from one to the other). A client that reads is never closed as
// slow and gets every event in order.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io } from 'socket.io-client';

import { connected, sleep, startParley } from './lib/harness.mjs';

const events = 400;
let srv;

before(async () => {
  srv = await startParley({
    env: {
      PARLEY_CONN_QUEUE_MAX: '10',
      PARLEY_CONN_QUEUE_BYTES: '65536',
      PARLEY_CONN_WRITE_TIMEOUT: '2s',
      PARLEY_EVENT_LOG_MAX: '1000',
    },
  });
  const t1 = srv.token(1);
  const text = 'z'.repeat(500);
  for (let i = 0; i < events; i += 8) {
    const batch = [];
    for (let j = i; j < Math.min(events, i + 8); j++) {
      batch.push(srv.rest('POST', '/api/user/2', t1, { type: 'text', text }));
    }
    for (const r of await Promise.all(batch)) assert.equal(r.status, 201);
  }
});

after(async () => {
  if (!srv) return;
  const { code, signal } = await srv.stop();
  srv.cleanup();
  assert.equal(signal, null, `parley was killed by ${signal}:\n${srv.output()}`);
  assert.equal(code, 0, `parley exited ${code}:\n${srv.output()}`);
});

describe('a small queue never cuts a client that reads', () => {
  for (const [name, transports] of [['polling, then websocket', undefined], ['polling only', ['polling']], ['websocket only', ['websocket']]]) {
    test(name, async () => {
      const s = io(srv.url, {
        reconnection: false, forceNew: true, timeout: 5000,
        ...(transports ? { transports } : {}),
        auth: { token: srv.token(2), lastEventId: 0 },
      });
      try {
        const ids = [];
        let reason;
        s.on('message:new', (e) => ids.push(e.eventId));
        s.on('disconnect_reason', (r) => { reason = r; });
        await connected(s);
        const deadline = Date.now() + 20_000;
        while (ids.length < events && !reason && s.connected && Date.now() < deadline) await sleep(20);
        assert.equal(reason, undefined, `closed as slow after ${ids.length} events: ${JSON.stringify(reason)}`);
        assert.equal(ids.length, events, `got ${ids.length} of ${events} events (connected: ${s.connected})`);
        assert.deepEqual(ids, Array.from({ length: events }, (_, i) => i + 1));
        await sleep(2500); // past the write timeout: still connected
        assert.equal(s.connected, true);
        assert.equal(reason, undefined);
      } finally {
        s.close();
      }
    });
  }
});
