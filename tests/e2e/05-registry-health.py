"""05 registry health checks: hangard's own TCP and HTTP checks find dead servers
(server.down, reason health_check_failed) -- a real examples/gameserver process killed with
kill -9, an HTTP endpoint answering 500 -- while healthy ones stay; a game server stopped with
SIGTERM leaves (reason left)."""
# needs: websocket

import http.server
import signal
import threading
import time

import harness
from harness import EventStream, announce, for_server, reg_get


def test_tcp_check_finds_a_killed_gameserver(d):
    key = d.create_key("hc-gs", allow=["registry:Announce"])
    ws = EventStream(d, "kind=game")
    gs = None
    try:
        gs, sid, port = harness.start_gameserver(d, key, 10, "--lease", 120, "--check-interval",
                                                 1, "--check-failures", 2)
        up = ws.wait_for(for_server(sid, "server.up"), what="the game server's server.up")
        hc = up["server"].get("health_check")
        assert hc and hc["type"] == "tcp" and hc["interval_s"] == 1 and hc["failures"] == 2, up
        assert up["server"]["port"] == port and up["server"]["lease_s"] == 120, up
        # Alive: three checks pass, no server.down.
        time.sleep(3.2)
        downs = [e for e in ws.events if for_server(sid, "server.down")(e)]
        assert not downs and reg_get(d, sid), "a live game server was taken down: %s" % downs
        t_kill = time.monotonic()
        gs.stop(signal.SIGKILL)
        down = ws.wait_for(for_server(sid, "server.down"), timeout=6.0,
                           what="server.down after kill -9")
        took = down["_recv"] - t_kill
        assert down["reason"] == "health_check_failed", down
        assert took <= 6.0, took
        print("  kill -9 -> server.down health_check_failed after %.2fs "
              "(interval 1 s, 2 failures)" % took)
        assert reg_get(d, sid) is None
    finally:
        ws.close()
        if gs:
            gs.stop(signal.SIGKILL)


class _Handler(http.server.BaseHTTPRequestHandler):
    status = {"/health": 500, "/ok": 200, "/moved": 302}
    hits = []

    def do_GET(self):
        self.hits.append(self.path)
        code = self.status.get(self.path, 404)
        self.send_response(code)
        if code == 302:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def test_http_check_500_goes_down_2xx_3xx_stay(d):
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler) for _ in range(3)]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    ports = [srv.server_address[1] for srv in servers]
    ws = EventStream(d, "kind=hc-http")
    try:
        check = {"type": "http", "interval_s": 1, "failures": 2}
        t0 = time.monotonic()
        bad = announce(d, "hc-http", "127.0.0.1", ports[0], lease_s=120, name="bad",
                       health_check=dict(check, path="/health"))
        good = announce(d, "hc-http", "localhost", ports[1], lease_s=120, name="good",
                        health_check=dict(check, path="/ok"))
        moved = announce(d, "hc-http", "127.0.0.1", ports[2], lease_s=120, name="moved",
                         health_check=dict(check, path="/moved"))
        assert bad["health_check"]["path"] == "/health", bad
        down = ws.wait_for(for_server(bad["id"], "server.down"), timeout=6.0,
                           what="server.down for the check answering 500")
        assert down["reason"] == "health_check_failed", down
        print("  HTTP 500 -> server.down health_check_failed after %.2fs" % (
            down["_recv"] - t0))
        assert "/health" in _Handler.hits, "hangard never GET the check path: %r" % _Handler.hits
        # The 200 (by host name) and 302 ones passed as many checks and are still there.
        time.sleep(max(0.0, t0 + 3.5 - time.monotonic()))
        for s in (good, moved):
            assert reg_get(d, s["id"]) is not None, "%s was taken down" % s["name"]
        others = [e for e in ws.events if e["type"] == "server.down"
                  and e["server"]["id"] != bad["id"]]
        assert not others, harness.brief_events(others)
        assert _Handler.hits.count("/ok") >= 2 and _Handler.hits.count("/moved") >= 2, \
            _Handler.hits
    finally:
        ws.close()
        for srv in servers:
            srv.shutdown()
            srv.server_close()


def test_check_of_a_port_nobody_listens_on(d):
    ws = EventStream(d, "kind=hc-none")
    try:
        port = harness.free_port()
        s = announce(d, "hc-none", "127.0.0.1", port, lease_s=120,
                     health_check={"type": "tcp", "interval_s": 1, "failures": 1})
        down = ws.wait_for(for_server(s["id"], "server.down"), timeout=4.0, what="server.down")
        assert down["reason"] == "health_check_failed", down
    finally:
        ws.close()


def test_sigterm_gameserver_leaves(d):
    key = d.create_key("hc-gs2", allow=["registry:Announce"])
    ws = EventStream(d, "kind=game")
    try:
        gs, sid, port = harness.start_gameserver(d, key, 4)
        ws.wait_for(for_server(sid, "server.up"), what="server.up")
        rc = gs.stop(signal.SIGTERM)
        assert rc == 0, "gameserver exited %s on SIGTERM:\n%s" % (rc, gs.output())
        down = ws.wait_for(for_server(sid, "server.down"), timeout=3.0, what="server.down")
        assert down["reason"] == "left", down
    finally:
        ws.close()


if __name__ == "__main__":
    harness.run()
