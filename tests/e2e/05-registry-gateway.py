"""05 registry, the user story end to end with the examples: examples/gameserver processes
announce themselves, examples/gateway follows the event stream, connects to each game server
that comes up, drops those that go down (left, health check), survives a hangard restart, and
sends each new game to the least-loaded server through pick."""
# needs: websocket

import collections
import json
import os
import re
import signal
import socket

import harness
from harness import Proc, example_env, reg_get, start_gameserver

GATEWAY = os.path.join(harness.EXAMPLES, "gateway", "gateway.py")
GAME_LINE = re.compile(r"^game (game-\d+) -> (srv-[0-9a-f]{16}): (.*)$")


def _keys(d):
    return (d.create_key("gameserver", allow=["registry:Announce"]),
            d.create_key("gateway", allow=["registry:Read", "registry:Pick"]))


def _games_on(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rwb")
        f.write(b"games\n")
        f.flush()
        reply = f.readline().decode().split()
    assert len(reply) == 2 and reply[0] == "games", reply
    return int(reply[1])


def _gateway(d, key, *args):
    return Proc([harness.sys.executable, GATEWAY, "--endpoint", d.url] + [str(a) for a in args],
                env=example_env(key))


def test_gateway_demo_spreads_games_evenly(d):
    gs_key, gw_key = _keys(d)
    procs = []
    try:
        servers = {}
        for _ in range(2):
            p, sid, port = start_gameserver(d, gs_key, 50, "--lease", 30, "--check-interval", 1)
            procs.append(p)
            servers[sid] = port
        gw = _gateway(d, gw_key, "--demo", 20, "--servers", 2)
        procs.append(gw)
        assert gw.p.wait(20) == 0, "gateway --demo exited %s:\n%s" % (gw.p.returncode,
                                                                     gw.output())
        games = [GAME_LINE.match(ln) for ln in gw.output().splitlines()]
        games = [m.groups() for m in games if m]
        assert [g[0] for g in games] == ["game-%d" % i for i in range(1, 21)], gw.output()
        for gid, sid, reply in games:
            assert sid in servers, "%s went to %s, not a live game server" % (gid, sid)
            assert reply == "started " + gid, "%s on %s: %r" % (gid, sid, reply)
        split = collections.Counter(sid for _, sid, _ in games)
        on_servers = {sid: _games_on(port) for sid, port in servers.items()}
        print("  20 games: gateway says %s, the game servers say %s" % (dict(split),
                                                                       on_servers))
        assert on_servers == dict(split), (on_servers, split)
        assert max(split.values()) - min(split.values()) <= 2 and len(split) == 2, \
            "uneven split: %r" % split
        summary = [ln for ln in gw.output().splitlines() if ln.startswith("demo: ")]
        assert summary and json.loads(summary[0].split(": ", 2)[2]) == dict(split), summary
        for sid in servers:  # the registry's load counts the reservations
            assert reg_get(d, sid)["load"] == split[sid], reg_get(d, sid)
    finally:
        for p in procs:
            p.stop()


def test_gateway_follows_servers_up_down_and_a_restart(d):
    gs_key, gw_key = _keys(d)
    procs = []
    try:
        gw = _gateway(d, gw_key)
        procs.append(gw)
        gw.wait_line(lambda ln: ln.startswith("subscribed: "), 10, "subscription")
        a, sid_a, _ = start_gameserver(d, gs_key, 10, "--lease", 30)
        b, sid_b, _ = start_gameserver(d, gs_key, 10, "--lease", 30, "--check-interval", 1,
                                       "--check-failures", 2)
        procs += [a, b]
        for sid in (sid_a, sid_b):
            gw.wait_line(lambda ln: ln.startswith("connected to " + sid), 5,
                         "connected to " + sid)
        # One leaves (SIGTERM), the other dies (kill -9) and fails its health checks.
        assert a.stop(signal.SIGTERM) == 0, a.output()
        gw.wait_line(lambda ln: ln == "dropped %s (left)" % sid_a, 5, "drop of " + sid_a)
        b.stop(signal.SIGKILL)
        gw.wait_line(lambda ln: ln == "dropped %s (health_check_failed)" % sid_b, 8,
                     "drop of " + sid_b)

        # hangard restarts under the gateway; a server that comes up meanwhile is not missed.
        d.restart()
        c, sid_c, port_c = start_gameserver(d, gs_key, 10, "--lease", 30)
        procs.append(c)
        gw.wait_line(lambda ln: ln.startswith("event stream dropped"), 5, "stream drop")
        gw.wait_line(lambda ln: ln.startswith("connected to " + sid_c), 10,
                     "connected to " + sid_c + " after the restart")
        resubs = [ln for ln in gw.output().splitlines() if ln.startswith("subscribed: ")]
        assert len(resubs) >= 2 and "after=" in resubs[-1], resubs
        assert gw.p.poll() is None, "gateway died:\n" + gw.output()

        # --once: a second gateway reads the current table and exits.
        once = _gateway(d, gw_key, "--once")
        procs.append(once)
        assert once.p.wait(15) == 0, once.output()
        table = [ln for ln in once.output().splitlines() if ln.startswith("server ")]
        assert len(table) == 1 and table[0].startswith("server %s 127.0.0.1:%d " % (
            sid_c, port_c)), once.output()
    finally:
        for p in procs:
            p.stop(signal.SIGKILL)


if __name__ == "__main__":
    harness.run()
