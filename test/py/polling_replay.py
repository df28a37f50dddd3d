"""A python-socketio client forced onto long-polling catches up on missed events.

Usage: polling_replay.py URL TOKEN LAST_EVENT_ID COUNT TIMEOUT_SECONDS

Connects with auth {token, lastEventId} and transports=['polling'] (no
reconnection, so a dropped connection ends the run), waits until COUNT
message:new events have arrived, the connection drops, or the timeout
passes, and prints one JSON line:

  {"ids": [eventId, ... in wire order], "handled": n, "disconnects": n,
   "max_payload": most packets seen in one polling response, "error": str}

python-socketio runs each event handler in its own thread, so the order is
taken where packets are decoded (the read loop), not in the handlers.
Debian's python3-engineio (4.3) refuses a payload of more than
Payload.max_decode_packets (16) packets and drops the connection.
"""

import json
import sys
import threading

import engineio.client
import engineio.payload
import socketio


def main():
    url, token, last, count, timeout = sys.argv[1:6]
    count, timeout = int(count), float(timeout)
    ids, handled, disconnects = [], [0], [0]
    max_payload = [0]
    lock = threading.Lock()
    done = threading.Event()

    decode = engineio.payload.Payload.decode

    def counting_decode(self, encoded_payload):
        if encoded_payload:
            with lock:
                max_payload[0] = max(max_payload[0], len(encoded_payload.split('\x1e')))
        return decode(self, encoded_payload)

    engineio.payload.Payload.decode = counting_decode

    receive = engineio.client.Client._receive_packet

    def ordered_receive(self, pkt):
        data = pkt.data
        if isinstance(data, str) and data.startswith('2['):
            name, body = json.loads(data[1:])[:2]
            if name == 'message:new':
                with lock:
                    ids.append(body.get('eventId'))
        return receive(self, pkt)

    engineio.client.Client._receive_packet = ordered_receive

    sio = socketio.Client(reconnection=False)

    @sio.on('message:new')
    def on_message(_):
        with lock:
            handled[0] += 1
            if handled[0] >= count:
                done.set()

    @sio.event
    def disconnect():
        with lock:
            disconnects[0] += 1
        done.set()

    error = ''
    try:
        sio.connect(url, auth={'token': token, 'lastEventId': int(last)},
                    transports=['polling'], wait_timeout=10)
        if not done.wait(timeout):
            error = 'timed out'
    except Exception as e:  # a refused connect is a result too
        error = '%s: %s' % (type(e).__name__, e)
    with lock:
        out = {'ids': list(ids), 'handled': handled[0], 'disconnects': disconnects[0],
               'max_payload': max_payload[0], 'error': error}
    try:
        sio.disconnect()
    except Exception:
        pass
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
