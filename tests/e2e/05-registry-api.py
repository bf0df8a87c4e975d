"""05 registry API: announce (201 then 200, same id), GET one and list with filters and
pagination, PATCH updates and renews the lease, DELETE, validation errors, authentication and
policies, FleetIQ game servers mirrored read-only (docs/api.md "Registry")."""

import re
import time

import harness
from harness import announce, native_error, reg_call, reg_get, reg_list, reg_list_all

SERVERS = "/v1/registry/servers"
FIELDS = ("id", "kind", "name", "address", "port", "status", "load", "capacity", "metadata",
          "source", "registered", "updated")


def _ids(items):
    return [s["id"] for s in items]


def test_announce_created_then_same_id(d):
    t0 = time.time()
    body = {"kind": "api-new", "address": "10.0.0.1", "port": 7001, "name": "eu-1",
            "capacity": 8, "load": 2, "metadata": {"region": "eu", "mode": "ctf"}, "lease_s": 30}
    r = reg_call(d, "POST", SERVERS, body)
    assert r.status == 201, "first announce: want 201, got %r" % r
    assert r.headers.get("x-request-id"), "no X-Request-Id: %r" % r.headers
    s = r.json()
    for f in FIELDS:
        assert f in s, "server lacks %s: %r" % (f, s)
    assert re.fullmatch(r"srv-[0-9a-f]{16}", s["id"]), s["id"]
    assert (s["kind"], s["name"], s["address"], s["port"]) == ("api-new", "eu-1", "10.0.0.1",
                                                               7001), s
    assert (s["load"], s["capacity"], s["metadata"], s["source"]) == (
        2, 8, {"region": "eu", "mode": "ctf"}, "native"), s
    assert isinstance(s["status"], str) and s["status"], s
    assert abs(s["registered"] - t0) < 5 and abs(s["updated"] - t0) < 5, s
    assert s["lease_s"] == 30, s
    assert abs(s["lease_expires"] - (s["updated"] + 30)) < 1, s

    # The same kind+address+port again: 200, same id, the new values.
    body2 = dict(body, load=5, status="busy", metadata={"region": "eu"})
    r = reg_call(d, "POST", SERVERS, body2)
    assert r.status == 200, "second announce: want 200, got %r" % r
    again = r.json()
    assert again["id"] == s["id"], (again, s)
    assert (again["load"], again["status"], again["metadata"]) == (5, "busy", {"region": "eu"})
    assert again["registered"] == s["registered"], "re-announce changed registered: %r" % again
    assert reg_get(d, s["id"])["load"] == 5

    # Another port, or another kind on the same address and port, is another server.
    other_port = announce(d, "api-new", "10.0.0.1", 7002)
    other_kind = announce(d, "api-new2", "10.0.0.1", 7001)
    assert other_port["_status"] == 201 and other_kind["_status"] == 201
    assert len({s["id"], other_port["id"], other_kind["id"]}) == 3

    # Defaults: lease 15 s, no health check.
    assert other_port["lease_s"] == 15, other_port
    assert "health_check" not in other_port, other_port


def test_get_one_and_list_filters(d):
    a = announce(d, "api-flt", "10.1.0.1", 1, status="up", load=0, capacity=4)
    b = announce(d, "api-flt", "10.1.0.2", 1, status="up", load=4, capacity=4)
    c = announce(d, "api-flt", "10.1.0.3", 1, status="draining", load=1, capacity=4)
    x = announce(d, "api-flt-other", "10.1.0.4", 1, status="up", load=0, capacity=4)

    got = reg_get(d, a["id"])
    for f in FIELDS:
        assert got[f] == a[f], "GET differs from the announce answer in %s: %r vs %r" % (f, got, a)
    assert reg_get(d, "srv-0000000000000000") is None

    every = _ids(reg_list_all(d))
    assert every == sorted(every), "list not sorted by id: %r" % every
    assert {a["id"], b["id"], c["id"], x["id"]} <= set(every)

    kind = _ids(reg_list(d, kind="api-flt")["items"])
    assert kind == sorted([a["id"], b["id"], c["id"]]), kind
    up = _ids(reg_list(d, kind="api-flt", status="up")["items"])
    assert up == sorted([a["id"], b["id"]]), up
    draining = _ids(reg_list(d, status="draining")["items"])
    assert c["id"] in draining and a["id"] not in draining, draining
    room = _ids(reg_list(d, kind="api-flt", has_capacity=1)["items"])
    assert room == sorted([a["id"], c["id"]]), "has_capacity=1: %r" % room
    both = _ids(reg_list(d, kind="api-flt", status="up", has_capacity=1)["items"])
    assert both == [a["id"]], both
    assert reg_list(d, kind="api-none")["items"] == []


def test_pagination(d):
    made = sorted(announce(d, "api-page", "10.2.0.%d" % i, 9)["id"] for i in range(7))
    pages, after = [], None
    for _ in range(5):
        q = {"kind": "api-page", "limit": 3}
        if after:
            q["after"] = after
        page = reg_list(d, **q)
        pages.append(_ids(page["items"]))
        after = page.get("next")
        if not after:
            break
    assert [len(p) for p in pages] == [3, 3, 1], "pages of 3 over 7 servers: %r" % pages
    assert sum(pages, []) == made, (pages, made)
    assert "next" not in reg_list(d, kind="api-page", limit=7), "next on the last page"
    assert reg_list(d, kind="api-page", limit=6).get("next") == made[5]
    assert _ids(reg_list(d, kind="api-page", after=made[5])["items"]) == [made[6]]
    for bad in ("0", "1001", "x"):
        native_error(reg_call(d, "GET", SERVERS + "?limit=" + bad), 400, "invalid_request")


def test_patch_updates_and_renews(d):
    s = announce(d, "api-patch", "10.3.0.1", 5, lease_s=1.5, capacity=10)
    path = SERVERS + "/" + s["id"]
    r = reg_call(d, "PATCH", path, {"status": "busy", "load": 7, "capacity": 12,
                                    "metadata": {"map": "dust"}})
    assert r.status == 200, r
    p = r.json()
    assert (p["status"], p["load"], p["capacity"], p["metadata"]) == ("busy", 7, 12,
                                                                     {"map": "dust"}), p
    g = reg_get(d, s["id"])
    assert (g["status"], g["load"], g["capacity"], g["metadata"]) == ("busy", 7, 12,
                                                                     {"map": "dust"}), g
    # A partial PATCH leaves the rest alone.
    p = reg_call(d, "PATCH", path, {"load": 3}).json()
    assert (p["status"], p["load"], p["capacity"], p["metadata"]) == ("busy", 3, 12,
                                                                     {"map": "dust"}), p
    # Renewals ({} included) keep a 1.5 s lease alive for 3 s, moving lease_expires.
    last = p["lease_expires"]
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        time.sleep(0.5)
        r = reg_call(d, "PATCH", path, {})
        assert r.status == 200, "renewal -> %r (lease lost?)" % r
        assert r.json()["lease_expires"] > last, r.json()
        last = r.json()["lease_expires"]
    assert reg_get(d, s["id"])["load"] == 3
    # Without renewals it goes.
    harness.wait_until(lambda: reg_get(d, s["id"]) is None, 4.0, what="the lease to run out")
    native_error(reg_call(d, "PATCH", path, {}), 404, "not_found")


def test_patch_validation(d):
    s = announce(d, "api-patchv", "10.3.1.1", 5, capacity=10, load=1)
    path = SERVERS + "/" + s["id"]
    for bad in ({"load": -1}, {"capacity": -5}, {"status": "Not Valid"}, {"status": ""},
                {"metadata": [1]}, {"metadata": {"x": "y" * 5000}}, {"load": "3"}):
        native_error(reg_call(d, "PATCH", path, bad), 400, "invalid_request")
    g = reg_get(d, s["id"])
    assert (g["load"], g["capacity"], g["status"], g["metadata"]) == (1, 10, s["status"], {}), g


def test_delete(d):
    s = announce(d, "api-del", "10.4.0.1", 5)
    path = SERVERS + "/" + s["id"]
    r = reg_call(d, "DELETE", path)
    assert r.status == 200, r
    assert reg_get(d, s["id"]) is None
    assert s["id"] not in _ids(reg_list(d, kind="api-del")["items"])
    native_error(reg_call(d, "DELETE", path), 404, "not_found")
    native_error(reg_call(d, "PATCH", path, {"load": 1}), 404, "not_found")
    # Announcing again brings it back under the same id.
    back = announce(d, "api-del", "10.4.0.1", 5)
    assert back["id"] == s["id"] and back["_status"] == 201, back


BAD_ANNOUNCES = [
    ("bad kind", {"kind": "Game!"}),
    ("empty kind", {"kind": ""}),
    ("kind of 33", {"kind": "k" * 33}),
    ("kind not a string", {"kind": 5}),
    ("no kind", {"kind": None}),
    ("no address", {"address": None}),
    ("address of 256", {"address": "a" * 256}),
    ("address with a newline", {"address": "10.0.0.1\n"}),
    ("name of 129", {"name": "n" * 129}),
    ("port 70000", {"port": 70000}),
    ("port -1", {"port": -1}),
    ("port a string", {"port": "80"}),
    ("status with a space", {"status": "not ok"}),
    ("negative load", {"load": -1}),
    ("negative capacity", {"capacity": -1}),
    ("metadata too big", {"metadata": {"blob": "x" * 4100}}),
    ("metadata a list", {"metadata": ["a"]}),
    ("lease_s 0.1", {"lease_s": 0.1}),
    ("lease_s 3601", {"lease_s": 3601}),
    ("lease_s a string", {"lease_s": "10"}),
    ("health_check type bogus", {"health_check": {"type": "bogus"}}),
    ("health_check without type", {"health_check": {"interval_s": 5}}),
    ("http check without path", {"health_check": {"type": "http"}}),
    ("http check path not absolute", {"health_check": {"type": "http", "path": "health"}}),
    ("check interval 0.5", {"health_check": {"type": "tcp", "interval_s": 0.5}}),
    ("check interval 3601", {"health_check": {"type": "tcp", "interval_s": 3601}}),
    ("check failures 0", {"health_check": {"type": "tcp", "failures": 0}}),
    ("check failures 101", {"health_check": {"type": "tcp", "failures": 101}}),
]


def test_validation_errors(d):
    wrong = []
    for what, change in BAD_ANNOUNCES:
        body = {"kind": "api-val", "address": "10.5.0.1", "port": 1000}
        body.update(change)
        body = {k: v for k, v in body.items() if v is not None}
        r = reg_call(d, "POST", SERVERS, body)
        try:
            native_error(r, 400, "invalid_request")
        except AssertionError as e:
            wrong.append("%s: %s" % (what, e))
    assert not wrong, "bad announcements not refused as documented:\n  " + "\n  ".join(wrong)
    assert reg_list(d, kind="api-val")["items"] == [], "a refused announcement left a server"
    # The limits themselves are fine.
    ok = announce(d, "k" * 32, "a" * 255, 65535, name="n" * 128, lease_s=1,
                  metadata={"blob": "x" * 4000})
    assert ok["lease_s"] == 1, ok
    announce(d, "api-val", "10.5.0.2", 1000, lease_s=3600,
             health_check={"type": "http", "path": "/h", "interval_s": 3600, "failures": 100})
    reg_call(d, "DELETE", SERVERS + "/" + ok["id"])


def test_not_json_body(d):
    data = b"{not json"
    port = d.port
    hdrs = harness.sign("POST", harness.url_at(port) + SERVERS, data,
                        {"Content-Type": "application/json"}, d.key_id, d.secret, "hangar")
    native_error(d.http("POST", SERVERS, data, hdrs, port=port), 400, "bad_json")
    native_error(reg_call(d, "PUT", SERVERS, {}), 405)


def test_lease_zero_is_out_of_range(d):
    # docs/api.md: "lease_s 1..3600, default 15" -- 0 is not in the range.
    r = reg_call(d, "POST", SERVERS, {"kind": "api-lease0", "address": "10.5.1.1", "port": 1,
                                      "lease_s": 0})
    native_error(r, 400, "invalid_request")


def test_check_failures_must_be_an_integer(d):
    r = reg_call(d, "POST", SERVERS, {"kind": "api-fail", "address": "10.5.2.1", "port": 1,
                                      "health_check": {"type": "tcp", "failures": "x"}})
    native_error(r, 400, "invalid_request")


def test_authentication_and_policies(d):
    s = announce(d, "api-auth", "10.6.0.1", 1)
    path = SERVERS + "/" + s["id"]
    body = {"kind": "api-auth", "address": "10.6.0.2", "port": 1}
    # No signature, a wrong secret: 403.
    for r in (reg_call(d, "POST", SERVERS, body, signed=False),
              reg_call(d, "GET", SERVERS, signed=False),
              reg_call(d, "GET", path, signed=False)):
        native_error(r, 403)
    bad = {"key_id": d.key_id, "secret": d.secret + "x"}
    native_error(reg_call(d, "GET", SERVERS, key=bad), 403)

    reader = d.create_key("reg-reader", allow=["registry:Read"])
    native_error(reg_call(d, "POST", SERVERS, body, key=reader), 403, "forbidden")
    native_error(reg_call(d, "PATCH", path, {"load": 1}, key=reader), 403, "forbidden")
    native_error(reg_call(d, "DELETE", path, key=reader), 403, "forbidden")
    native_error(reg_call(d, "POST", "/v1/registry/pick", {"kind": "api-auth"}, key=reader), 403,
                 "forbidden")
    assert reg_get(d, s["id"], key=reader)["id"] == s["id"]
    assert s["id"] in _ids(reg_list(d, key=reader, kind="api-auth")["items"])

    announcer = d.create_key("reg-announcer", allow=["registry:Announce"])
    native_error(reg_call(d, "GET", path, key=announcer), 403, "forbidden")
    native_error(reg_call(d, "GET", SERVERS, key=announcer), 403, "forbidden")
    mine = announce(d, key=announcer, **body)
    assert reg_call(d, "PATCH", SERVERS + "/" + mine["id"], {"load": 1},
                    key=announcer).status == 200
    assert reg_call(d, "DELETE", SERVERS + "/" + mine["id"], key=announcer).status == 200

    # Deny beats Allow; gamelift actions do not cover the registry.
    denied = d.create_key("reg-denied", allow=["registry:*"], deny=["registry:Announce"])
    native_error(reg_call(d, "POST", SERVERS, body, key=denied), 403, "forbidden")
    assert reg_get(d, s["id"], key=denied)["id"] == s["id"]
    gl = d.create_key("gl-only", allow=["gamelift:*"])
    native_error(reg_call(d, "GET", SERVERS, key=gl), 403, "forbidden")
    assert reg_list(d, kind="api-auth")["items"] == [reg_get(d, s["id"])], \
        "a refused call changed the registry"


def test_fleetiq_servers_are_mirrored_read_only(d):
    c = d.client()
    harness.create_group(c, "reg-fq")
    harness.register(c, "reg-fq", "reg-fq-gs1", inst=1, ConnectionInfo="10.7.0.1:7777")

    def mirrored():
        items = [s for s in reg_list_all(d, kind="game")
                 if s["metadata"].get("game_server_id") == "reg-fq-gs1"]
        return items[0] if items else None

    s = mirrored()
    assert s, "the FleetIQ game server is not in GET /v1/registry/servers?kind=game"
    assert (s["source"], s["status"], s["kind"]) == ("fleetiq", "available", "game"), s
    assert (s["address"], s["port"]) == ("10.7.0.1", 7777), s
    assert s["metadata"].get("game_server_group") == "reg-fq", s
    assert reg_get(d, s["id"])["source"] == "fleetiq"
    assert s["id"] in _ids(reg_list_all(d, kind="game", status="available"))

    harness.gs_update(c, "reg-fq", "reg-fq-gs1", UtilizationStatus="UTILIZED")
    u = reg_get(d, s["id"])
    assert u["status"] == "utilized", "after UpdateGameServer UTILIZED: %r" % u
    assert s["id"] not in _ids(reg_list_all(d, kind="game", status="available"))

    path = SERVERS + "/" + s["id"]
    native_error(reg_call(d, "PATCH", path, {"load": 0}), 409, "conflict")
    native_error(reg_call(d, "PATCH", path, {}), 409, "conflict")
    native_error(reg_call(d, "DELETE", path), 409, "conflict")
    assert reg_get(d, s["id"])["status"] == "utilized", "a refused PATCH changed it"

    c.deregister_game_server(GameServerGroupName="reg-fq", GameServerId="reg-fq-gs1")
    assert reg_get(d, s["id"]) is None, "deregistered FleetIQ server still in the registry"


if __name__ == "__main__":
    harness.run()
