"""05 registry restart: the registry survives SIGTERM + restart and kill -9 after an
acknowledged write (ids, status, load, metadata, health checks), leases restart their countdown,
and event sequence numbers keep increasing across restarts (by one within a run, jumping ahead
by at most 4,096 over a restart)."""
# needs: websocket

import time

import harness
from harness import EventStream, announce, reg_call, reg_get, reg_list_all

# docs/api.md: after a restart sequence numbers may jump ahead by up to 4,096 (never back).
JUMP = 4096
KEEP = ("id", "kind", "name", "address", "port", "status", "load", "capacity", "metadata",
        "source", "registered", "lease_s", "health_check")


def _view(s):
    return {k: s.get(k) for k in KEEP}


def _announce_some(d, kind):
    echo = harness.EchoServer()  # a live TCP port for the health-checked one
    port = int(echo.address.rsplit(":", 1)[1])
    made = [
        announce(d, kind, "10.8.0.1", 7001, name="eu-1", status="busy", load=3, capacity=8,
                 metadata={"region": "eu", "tags": ["a", "b"], "n": 1.5}, lease_s=600),
        announce(d, kind, "10.8.0.2", 7001, capacity=16, lease_s=3),
        announce(d, kind, "127.0.0.1", port, capacity=4, lease_s=600,
                 health_check={"type": "tcp", "interval_s": 1, "failures": 3}),
    ]
    gone = announce(d, kind, "10.8.0.9", 7001, lease_s=600)
    assert reg_call(d, "DELETE", "/v1/registry/servers/" + gone["id"]).status == 200
    assert reg_call(d, "PATCH", "/v1/registry/servers/" + made[1]["id"],
                    {"load": 5, "metadata": {"patched": True}}).status == 200
    return echo, [reg_get(d, s["id"]) for s in made], gone["id"]


@harness.fresh()
def test_sigterm_restart_keeps_the_registry(d):
    echo, before, gone = _announce_some(d, "rs-term")
    ws = EventStream(d, "after=0")
    evs = ws.drain(0.3)
    last = evs[-1]["seq"]
    assert [e["seq"] for e in evs] == list(range(1, last + 1)), \
        "seqs are not 1..n by one: %s" % [e["seq"] for e in evs]
    time.sleep(2.0)  # the 3 s lease is 2 s into its countdown
    # before the restart: the new process loads (and restarts the countdown) after this, however
    # long the restart takes (a cluster brings back three nodes under ASan)
    t_wall, t_restart = time.time(), time.monotonic()
    d.restart()
    assert ws.next(timeout=5) is None, "the stream outlived the daemon"
    ws.close()
    after = {s["id"]: s for s in reg_list_all(d, kind="rs-term")}
    assert sorted(after) == sorted(s["id"] for s in before), \
        "ids before %s, after %s" % (sorted(s["id"] for s in before), sorted(after))
    assert gone not in after and reg_get(d, gone) is None, "a server that left came back"
    for s in before:
        assert _view(after[s["id"]]) == _view(s), "changed by the restart:\n  before %r\n" \
            "  after  %r" % (_view(s), _view(after[s["id"]]))
    # Leases restart their countdown: the 3 s one runs out 3 s after the load, not 1 s after the
    # restart began as it would have, and it is still there 2 s after the restart began.
    short = after[before[1]["id"]]
    assert short["lease_expires"] >= t_wall + 3.0 - 0.01, (short, t_wall)
    time.sleep(max(0.0, t_restart + 2.0 - time.monotonic()))
    assert reg_get(d, short["id"]) is not None, "the lease did not restart its countdown"
    # The health-checked one is still checked and still passes.
    assert reg_get(d, before[2]["id"]) is not None
    # Sequence numbers continue.
    ws = EventStream(d, "kind=rs-term")
    try:
        new = announce(d, "rs-term", "10.8.0.3", 7001, lease_s=600)
        ev = ws.next()
        assert ev["server"]["id"] == new["id"] and last < ev["seq"] <= last + 1 + JUMP, \
            "first event after the restart: seq %s, last before it %d" % (ev["seq"], last)
    finally:
        ws.close()
        echo.close()


@harness.fresh()
def test_kill9_after_acknowledged_writes(d):
    ws = EventStream(d, "kind=rs-kill")
    a = announce(d, "rs-kill", "10.8.1.1", 7001, capacity=10, lease_s=600,
                 metadata={"map": "dust"})
    b = announce(d, "rs-kill", "10.8.1.2", 7001, capacity=10, lease_s=600)
    assert reg_call(d, "PATCH", "/v1/registry/servers/" + a["id"],
                    {"load": 7, "status": "busy"}).status == 200
    r = reg_call(d, "POST", "/v1/registry/pick", {"kind": "rs-kill", "reserve": 4})
    assert r.status == 200 and r.json()["id"] == b["id"], r
    assert reg_call(d, "DELETE", "/v1/registry/servers/" + a["id"]).status == 200
    c = announce(d, "rs-kill", "10.8.1.3", 7001, capacity=10, lease_s=600)
    seqs = [ws.next()["seq"] for _ in range(6)]
    ws.close()
    d.restart(hard=True)  # kill -9 right after the last acknowledged write
    assert reg_get(d, a["id"]) is None, "a DELETE acknowledged before kill -9 was lost"
    gb, gc = reg_get(d, b["id"]), reg_get(d, c["id"])
    assert gb and gb["load"] == 4, "the pick acknowledged before kill -9 was lost: %r" % gb
    assert gc and gc["capacity"] == 10, "an announce acknowledged before kill -9 was lost"
    ws = EventStream(d, "kind=rs-kill")
    try:
        announce(d, "rs-kill", "10.8.1.4", 7001, lease_s=600)
        ev = ws.next()
        assert seqs == list(range(seqs[0], seqs[0] + 6)), seqs
        assert seqs[-1] < ev["seq"] <= seqs[-1] + 1 + JUMP, \
            "seq after kill -9: %d, last acknowledged %d" % (ev["seq"], seqs[-1])
    finally:
        ws.close()


@harness.fresh()
def test_seq_never_repeats_over_several_restarts(d):
    seen, rounds = [], []
    for round_ in range(3):
        ws = EventStream(d, "kind=rs-seq")
        try:
            for i in range(3):
                announce(d, "rs-seq", "10.8.2.%d" % (round_ * 10 + i), 1, lease_s=600)
                seen.append(ws.next()["seq"])
            rounds.append(seen[-3:])
        finally:
            ws.close()
        d.restart(hard=bool(round_ % 2))
    for r in rounds:  # by one within a run
        assert r == list(range(r[0], r[0] + 3)), "seqs over 3 restarts: %s" % rounds
    for a, b in zip(rounds, rounds[1:]):  # forward, by at most JUMP more, across a restart
        assert a[-1] < b[0] <= a[-1] + 1 + JUMP, "seqs over 3 restarts: %s" % rounds
    assert len(reg_list_all(d, kind="rs-seq")) == 9


if __name__ == "__main__":
    harness.run()
