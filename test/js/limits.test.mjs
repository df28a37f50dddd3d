// PARLEY_MAX_CONNECTIONS_PER_USER with the official socket.io-client: the
// socket beyond the cap gets connect_error "too many connections" with
// data.code TOO_MANY_CONNECTIONS, on websocket and polling alike; closing a
// socket frees its place.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';

import { connected, next, sleep, startParley } from './lib/harness.mjs';

let srv;
const sockets = [];

before(async () => {
  srv = await startParley({ env: { PARLEY_MAX_CONNECTIONS_PER_USER: '2' } });
});

after(async () => {
  while (sockets.length) sockets.pop().close();
  if (!srv) return;
  const { code, signal } = await srv.stop();
  srv.cleanup();
  assert.equal(signal, null, `parley was killed by ${signal}:\n${srv.output()}`);
  assert.equal(code, 0, `parley exited ${code}:\n${srv.output()}`);
});

function client(opts = {}) {
  const s = io(srv.url, { reconnection: false, forceNew: true, timeout: 5000, ...opts });
  sockets.push(s);
  return s;
}

test('the socket beyond the per-user cap gets TOO_MANY_CONNECTIONS', async () => {
  const token = srv.token(1);
  const a = client({ auth: { token } });
  const b = client({ auth: { token }, transports: ['polling'] });
  await connected(a);
  await connected(b);
  for (const transports of [['websocket'], ['polling']]) {
    const s = client({ auth: { token }, transports });
    const err = await next(s, 'connect_error');
    assert.equal(err.message, 'too many connections');
    assert.equal(err.data?.code, 'TOO_MANY_CONNECTIONS');
    assert.equal(err.data?.status, 429);
    s.close();
  }
  // Another user is not affected.
  const other = client({ auth: { token: srv.token(2) } });
  await connected(other);

  // Closing a socket frees its place (the server notices asynchronously).
  a.close();
  const deadline = Date.now() + 5000;
  for (;;) {
    const s = client({ auth: { token } });
    const err = await connected(s).then(() => null, (e) => e);
    if (err === null) break;
    assert.equal(err.data?.code, 'TOO_MANY_CONNECTIONS');
    s.close();
    assert.ok(Date.now() < deadline, 'no place freed 5 s after a socket closed');
    await sleep(50);
  }
});
