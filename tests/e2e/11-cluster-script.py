# needs: postgres
"""11 `scripts/cluster` (`make cluster`, docs/cluster.md) as the README shows it: a private
PostgreSQL and three nodes on consecutive loopback ports; the AWS API answers on every port (one
node serves, the two standbys relay to it); the serving node is killed and another takes over,
with everything written before."""

import os
import re
import signal
import socket
import subprocess
import time

import harness
from harness import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_run(n):
    """A base port with n free consecutive ports after it."""
    for _ in range(50):
        base = harness.free_port()
        if base + n >= 65000:
            continue
        socks = []
        try:
            for i in range(n):
                s = socket.socket()
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no %d free consecutive ports" % n)


class Node:
    """A harness-style handle on one node of the script's cluster (its port and the key)."""

    def __init__(self, port, key_id, secret):
        self.port, self.key_id, self.secret = port, key_id, secret

    def client(self):
        return harness.client_at(harness.url_at(self.port), self.key_id, self.secret)


@harness.no_daemon
def test_make_cluster_serves_on_every_port_and_survives_a_node(_):
    d = harness.tmpdir()
    os.chmod(d, 0o755)
    base = free_run(3)
    env = harness.clean_env({"NODES": "3", "BASE": str(base), "PG_PORT": str(harness.free_port()),
                             "LEASE_MS": "2000", "HANGARD": harness.HANGARD})
    p = subprocess.Popen([os.path.join(ROOT, "scripts", "cluster"), os.path.join(d, "c")],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        line = ""
        while "administrator key" not in line:
            line = p.stdout.readline()
            assert line, "scripts/cluster ended early"
        key_id, secret = re.search(r"administrator key (\S+) secret (\S+)", line).groups()
        nodes = [Node(base + i, key_id, secret) for i in range(3)]

        def listing(n):
            try:
                return [x["LocationName"] for x in n.client().list_locations()["Locations"]]
            except Exception:
                return None
        for n in nodes:
            wait_until(lambda: listing(n) is not None, timeout=20, what="port %d" % n.port)
        nodes[1].client().create_location(LocationName="custom-via-1")
        assert all("custom-via-1" in listing(n) for n in nodes)
        # the serving node: the one whose log says it serves
        logs = [open(os.path.join(d, "c", "node%d.log" % i)).read() for i in range(3)]
        owner = [i for i in range(3) if "serving endpoint" in logs[i]]
        assert len(owner) == 1, logs
        pid = int(subprocess.check_output(["pgrep", "-f", "--", "--node-id node%d " % owner[0]]).split()[0])
        os.kill(pid, signal.SIGKILL)
        rest = [n for i, n in enumerate(nodes) if i != owner[0]]
        t0 = time.monotonic()
        wait_until(lambda: all(listing(n) and "custom-via-1" in listing(n) for n in rest),
                   timeout=20, interval=0.1, what="a standby taking over")
        print("  takeover through scripts/cluster: %.2f s (lease 2 s)" % (time.monotonic() - t0))
        rest[0].client().create_location(LocationName="custom-after")
        assert "custom-after" in listing(rest[1])
    finally:
        os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


harness.run()
