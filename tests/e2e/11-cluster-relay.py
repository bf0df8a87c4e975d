# needs: postgres
"""11 a standby's relay (docs/cluster.md, "Nodes"), on a daemon of two nodes sharing the suite's
PostgreSQL database (run.py --store postgres or --cluster; the embedded pass skips it): clients
that leave while the standby still writes the owner's answers to them do not stop the standby
(it once died of SIGPIPE: a standby did not ignore it yet, only a serving daemon did)."""

import os
import socket
import struct
import time

import harness

PAGES = harness.tmpdir()
with open(os.path.join(PAGES, "big.js"), "wb") as f:
    f.write(b"/" * 1000000)
GET_BIG = b"GET /examples/big.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@harness.postgres_only
@harness.fresh(nodes=2, args=["--examples-dir", PAGES])
def test_clients_that_leave_mid_answer_do_not_stop_a_standby(d):
    standby = d.ports[1]
    for k in range(60):
        # 8 MB of answers asked for, read as they come, then a reset (SO_LINGER 0) part-way,
        # while the owner's answers still stream through the standby
        s = socket.create_connection(("127.0.0.1", standby), timeout=10)
        s.sendall(GET_BIG * 8)
        got, want = 0, 200000 + 50000 * (k % 20)
        while got < want:
            try:
                b = s.recv(65536)
            except OSError as e:
                b = e
                time.sleep(0.5)  # what became of the standby (SIGPIPE: exit -13)
            assert b and not isinstance(b, OSError), "round %d: %r after %d bytes (%s)" % (
                k, b, got, d.exits() or "every node runs")
            got += len(b)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        assert d.nodes[1].alive(), "the standby died (%s)\n%s" % (d.exits(), d.log_tail())
    time.sleep(0.2)
    assert d.alive(), "a node died (%s)\n%s" % (d.exits(), d.log_tail())
    r = d.http("GET", "/healthz", port=standby)
    assert r.status == 200, r
    d.serving()


harness.run()
