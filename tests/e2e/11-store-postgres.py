# needs: postgres
"""11 hangard on the PostgreSQL store (--store postgres://…, src/store/postgres.c), on a private
PostgreSQL server (scripts/pg-local) on loopback: the GameLift lobby, FlexMatch tickets and a
wallet purchase survive kill -9 of hangard; a second node on the same database stands by, relays
its clients' signed requests to the owner, answers 503 in each API's format while no owner
answers, and takes over within the lease (2 s here) when the first is killed — placements, FleetIQ
claims and SDK processes of both nodes come through it; a node paused past its lease cannot
write after it wakes (fencing) and stands by; PostgreSQL stopped under hangard fails the write in
flight and hangard comes back with it; `hangard migrate` copies an embedded store into an empty
database."""

import atexit
import json
import os
import re
import signal
import subprocess
import threading
import time

import glsdk
import harness
from harness import device_login, player_call, reg_call, wait_until

import botocore.exceptions  # noqa: E402  (after harness has scrubbed the environment)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_DIR = harness.tmpdir("hangar-e2e-pg-")
os.chmod(PG_DIR, 0o755)  # the server runs as postgres when the tests run as root
PG_URL = subprocess.check_output([os.path.join(ROOT, "scripts", "pg-local"), "start",
                                  os.path.join(PG_DIR, "data"), str(harness.free_port())],
                                 text=True).strip()
atexit.register(lambda: subprocess.call([os.path.join(ROOT, "scripts", "pg-local"), "stop",
                                         os.path.join(PG_DIR, "data")]))


def pg_db(name):
    """A fresh database on the private server; its URI."""
    return harness.pg_create_database(PG_URL, name)


def ok(r):
    assert 200 <= r.status < 300, r
    return r.json()


@harness.fresh(args=["--store", pg_db("hg_e2e_lobby"), "--auth-device", "1"])
def test_lobby_matchmaking_and_a_purchase_survive_kill_9(d):
    c = d.client()
    c.create_location(LocationName="custom-pg")
    fleet = c.create_fleet(Name="pg", ComputeType="ANYWHERE",
                           Locations=[{"Location": "custom-pg"}])["FleetAttributes"]
    q = c.create_game_session_queue(Name="pgq", Destinations=[
        {"DestinationArn": fleet["FleetArn"]}])["GameSessionQueue"]
    c.create_matchmaking_rule_set(Name="duel", RuleSetBody=json.dumps({
        "ruleLanguageVersion": "1.0",
        "teams": [{"name": "red", "maxPlayers": 1, "minPlayers": 1},
                  {"name": "blue", "maxPlayers": 1, "minPlayers": 1}]}))
    c.create_matchmaking_configuration(Name="duel", RuleSetName="duel", RequestTimeoutSeconds=60,
                                       AcceptanceRequired=False, FlexMatchMode="STANDALONE")
    c.start_matchmaking(TicketId="t1", ConfigurationName="duel", Players=[{"PlayerId": "p1"}])
    c.start_matchmaking(TicketId="t2", ConfigurationName="duel", Players=[{"PlayerId": "p2"}])
    wait_until(lambda: all(t["Status"] == "COMPLETED" for t in c.describe_matchmaking(
        TicketIds=["t1", "t2"])["TicketList"]), timeout=15, what="t1 and t2 matched")
    # a wallet: an item, a credit and a purchase as the player
    me = device_login(d, "device-pg-1")
    pid, tok = me["player_id"], me["token"]
    ok(reg_call(d, "PUT", "/v1/catalog/items/sword", {"price": {"gold": 30}, "stackable": False}))
    ok(reg_call(d, "POST", "/v1/players/%s/wallet/credits" % pid,
                {"currency": "gold", "amount": 100, "receipt_id": "r-pg-1"}))
    bought = ok(player_call(d, "POST", "/v1/purchases",
                            {"sku": "sword", "quantity": 1, "idempotency_key": "k1"}, token=tok))
    assert bought["balances"] == {"gold": 70}, bought

    m = d.http("GET", "/metrics").body.decode()
    assert "hangar_cluster_partitions_owned 113" in m, m
    assert re.search(r"hangar_store_pg_commit_seconds_count [1-9]", m), m
    assert "hangar_cluster_lease_epoch 1" in m, m

    d.restart(hard=True)  # kill -9, then the same --store
    c = d.client()
    assert c.describe_fleet_attributes(FleetIds=[fleet["FleetId"]])["FleetAttributes"][0][
        "Name"] == "pg"
    assert c.describe_game_session_queues(Names=["pgq"])["GameSessionQueues"][0][
        "GameSessionQueueArn"] == q["GameSessionQueueArn"]
    got = {t["TicketId"]: t for t in c.describe_matchmaking(TicketIds=["t1", "t2"])["TicketList"]}
    assert got["t1"]["Status"] == "COMPLETED" and got["t1"]["Players"][0]["Team"], got
    wallet = ok(reg_call(d, "GET", "/v1/players/%s/wallet" % pid))
    assert wallet["balances"] == {"gold": 70}, wallet
    assert [i["sku"] for i in wallet["inventory"]] == ["sword"], wallet
    # the same key again: the first answer, nothing charged twice
    r = player_call(d, "POST", "/v1/purchases",
                    {"sku": "sword", "quantity": 1, "idempotency_key": "k1"}, token=tok)
    assert r.json()["purchase_id"] == bought["purchase_id"], (r, bought)
    assert r.headers.get("idempotent-replayed") == "true", r.headers
    ledger = ok(reg_call(d, "GET", "/v1/players/%s/ledger" % pid))
    assert sorted(e["amount"] for e in ledger["items"]) == [-30, 100], ledger


LEASE = ["--lease-ms", "2000"]


def standby(url, name):
    """A second node on the same database: it stands by, relaying its port to the owner, until
    it takes the lease over. Started from this thread (the harness ties a daemon's life to the
    thread that started it); serves_itself(b) says when it serves."""
    b = harness.Daemon(args=["--store", url, "--node-id", name] + LEASE)
    b.port = harness.free_port()
    argv, env = b._argv_env()
    with open(b.stdout_path, "ab") as out, open(b.stderr_path, "ab") as err:
        b.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=err, preexec_fn=harness._die_with_parent)
    wait_until(lambda: "relaying to node a at" in b.output(), timeout=15,
               what="node %s standing by, relaying to node a" % name)
    assert "serving endpoint" not in b.output(), "the standby served while the lease was held"
    return b


def kill_owner_under_load(d, b, stop, threads):
    """The clients' threads run a second, node a (d) is killed, node b takes over, and the
    clients go on half a second more before stop is set and they are joined."""
    for t in threads:
        t.start()
    time.sleep(1.0)
    d.kill9()
    wait_until(lambda: serves_itself(b), timeout=20, interval=0.05, what="node b taking over")
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(20)


def serves_itself(b):
    if "serving endpoint" not in b.output():
        return False
    try:
        return b.http("GET", "/healthz", timeout=1).status == 200
    except OSError:
        return False


@harness.fresh(args=["--store", pg_db("hg_e2e_takeover"), "--node-id", "a"] + LEASE)
def test_a_standby_takes_over_when_the_node_is_killed(d):
    d.client().create_location(LocationName="custom-a")
    url = d.args[d.args.index("--store") + 1]
    b = standby(url, "b")
    # any node takes any request: the standby relays it to the owner, signature and all
    names = [x["LocationName"] for x in b.client().list_locations()["Locations"]]
    assert "custom-a" in names, names
    b.client().create_location(LocationName="custom-via-b")
    t0 = time.monotonic()
    d.kill9()
    wait_until(lambda: serves_itself(b), timeout=20, interval=0.05, what="node b taking over")
    took = time.monotonic() - t0
    assert took < 2.0 + 3.0, "takeover took %.1f s with a 2 s lease" % took
    print("  takeover after kill -9: %.2f s (lease 2 s)" % took)
    names = [x["LocationName"] for x in b.client().list_locations()["Locations"]]
    assert "custom-a" in names and "custom-via-b" in names, names
    b.client().create_location(LocationName="custom-b")
    # a graceful stop hands the lease back at once: node a serves again, with b's write
    assert b.stop() == 0
    d.start(port=d.port)
    names = [x["LocationName"] for x in d.client().list_locations()["Locations"]]
    assert "custom-a" in names and "custom-b" in names, names


WS_UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


@harness.fresh(args=["--store", pg_db("hg_e2e_no_owner"), "--node-id", "a"] + LEASE)
def test_a_standby_answers_503_while_no_node_serves(d):
    """The owner is killed while node b stands by: until b has taken the lease over, every
    request through b gets a clear 503 in its API's format (signed boto3 calls
    ServiceUnavailableException, /v1 unavailable, a WebSocket upgrade 503), never a reset or a
    refusal: b's listening socket goes from its standby loop to its server as it is, so a
    connection made while b loads waits in the backlog and is served; then the calls succeed."""
    d.client().create_location(LocationName="custom-a")
    url = d.args[d.args.index("--store") + 1]
    b = standby(url, "b")
    assert "custom-a" in [x["LocationName"] for x in b.client().list_locations()["Locations"]]
    seen = {"gamelift": 0, "v1": 0, "ws": 0}

    def refused():
        raise AssertionError("node b refused a connection (%s): its port must stay open "
                             "through the takeover\n%s" % (
                                 "after it saw the lease free" if "the lease is free" in
                                 b.output() else "while standing by", b.log_tail(20)))

    t0 = time.monotonic()
    d.kill9()
    took = None
    while took is None and time.monotonic() - t0 < 15:
        try:  # a fresh client: no retries (harness), no connection kept from before the kill
            names = [x["LocationName"] for x in b.client().list_locations()["Locations"]]
            took = time.monotonic() - t0
            assert "custom-a" in names, names
            break
        except botocore.exceptions.EndpointConnectionError:
            refused()
        except botocore.exceptions.ClientError as e:
            meta = e.response["ResponseMetadata"]
            assert e.response["Error"]["Code"] == "ServiceUnavailableException", e.response
            assert meta["HTTPStatusCode"] == 503, meta
            assert meta["HTTPHeaders"].get("retry-after") == "1", meta
            seen["gamelift"] += 1
        for what, call in (("v1", lambda: reg_call(b, "GET", "/v1/events?limit=1")),
                           ("ws", lambda: b.http("GET", "/sdk", headers=WS_UPGRADE))):
            try:
                r = call()
            except ConnectionRefusedError:
                refused()
                continue
            if r.status == 503:
                assert r.json()["error"]["code"] == "unavailable", r
                assert r.headers.get("retry-after") == "1", r
                seen[what] += 1
        time.sleep(0.05)
    assert took is not None, "node b did not serve within 15 s\n" + b.log_tail(30)
    print("  kill -9 -> first call served by node b: %.2f s (lease 2 s); meanwhile %s" %
          (took, seen))
    assert seen["gamelift"] and seen["v1"] and seen["ws"], seen
    assert reg_call(b, "GET", "/v1/events?limit=1").status == 200
    assert b.stop() == 0
    d.start(port=d.port)  # node a again, for the harness's clean stop


def anywhere_fleet(c, name, location):
    """A location, an ANYWHERE fleet there with one compute, host-1; (fleet, its auth token)."""
    c.create_location(LocationName=location)
    fleet = c.create_fleet(Name=name, ComputeType="ANYWHERE",
                           Locations=[{"Location": location}])["FleetAttributes"]
    c.register_compute(FleetId=fleet["FleetId"], ComputeName="host-1", IpAddress="127.0.0.1",
                       Location=location)
    tok = c.get_compute_auth_token(FleetId=fleet["FleetId"], ComputeName="host-1")["AuthToken"]
    return fleet, tok


@harness.fresh(args=["--store", pg_db("hg_e2e_fault"), "--node-id", "a", "--auth-device", "1"]
               + LEASE)
def test_kill_9_of_the_owner_under_load_loses_nothing(d):
    """Clients of both nodes buy while the owner is killed: every purchase acknowledged is there
    once, retries of the rest charge at most once, the ledgers balance; a server process that
    reached its game session through the standby reconnects to it and the session stays
    ACTIVE."""
    url = d.args[d.args.index("--store") + 1]
    c = d.client()
    fleet, tok = anywhere_fleet(c, "fault", "custom-fault")
    ok(reg_call(d, "PUT", "/v1/catalog/items/gem", {"price": {"gold": 1}, "stackable": True}))
    players = []
    for i in range(4):
        me = device_login(d, "device-fault-%d" % i)
        ok(reg_call(d, "POST", "/v1/players/%s/wallet/credits" % me["player_id"],
                    {"currency": "gold", "amount": 100000, "receipt_id": "r-fault-%d" % i}))
        players.append(me)
    b = standby(url, "b")
    # the server process reaches the service through node b (relayed to a)
    sdk = glsdk.ServerSdk("ws://127.0.0.1:%d/sdk" % b.port, fleet["FleetId"], "host-1",
                          auth_token=tok, call_timeout=10, auto_reconnect=True,
                          reconnect_attempts=8)
    sdk.connect()
    sdk.process_ready(7777)
    gs = c.create_game_session(FleetId=fleet["FleetId"], MaximumPlayerSessionCount=2,
                               Location="custom-fault")["GameSession"]
    sdk.wait_push("CreateGameSession", timeout=10)
    sdk.activate_game_session(gs["GameSessionId"])
    nodes = [d, b]
    sent, acked, stop = [], {}, threading.Event()

    def buyer(i):
        me, n = players[i], 0
        while not stop.is_set():
            key = "k-%d-%d" % (i, n)
            n += 1
            sent.append((i, key))
            try:
                r = player_call(nodes[n % 2], "POST", "/v1/purchases",
                                {"sku": "gem", "quantity": 1, "idempotency_key": key},
                                token=me["token"])
                if r.status in (200, 201):
                    acked[(i, key)] = r.json()["purchase_id"]
                else:
                    time.sleep(0.05)  # 503s and refusals during the takeover: not a spin
            except OSError:
                time.sleep(0.05)
    kill_owner_under_load(d, b, stop, [threading.Thread(target=buyer, args=(i,))
                                       for i in range(4)])
    assert len(acked) > 20, len(acked)
    print("  %d purchases sent, %d acknowledged around the kill" % (len(sent), len(acked)))
    # every acknowledged purchase is there; every key resent is charged once at most
    for (i, key) in list(sent):
        r = player_call(b, "POST", "/v1/purchases",
                        {"sku": "gem", "quantity": 1, "idempotency_key": key},
                        token=players[i]["token"])
        assert r.status in (200, 201), r
        if (i, key) in acked:
            assert r.json()["purchase_id"] == acked[(i, key)], (key, r.json())
    for i, me in enumerate(players):
        keys = len([1 for (j, _) in sent if j == i])
        w = ok(player_call(b, "GET", "/v1/players/me/wallet", token=me["token"]))
        assert w["balances"] == {"gold": 100000 - keys}, (i, keys, w)
    p = harness.hangard_cli("check", "--store", url)
    assert p.returncode == 0 and "consistent" in p.stdout, (p.stdout, p.stderr)
    # the server process came back through node b: its game session is still ACTIVE
    wait_until(lambda: sdk.connected, timeout=20, what="the server process reconnecting")
    sdk.heartbeat()
    got = b.client().describe_game_sessions(GameSessionId=gs["GameSessionId"])["GameSessions"][0]
    assert got["Status"] == "ACTIVE", got
    sdk.close()
    assert b.stop() == 0
    d.start(port=d.port)  # node a again, for the harness's clean stop


@harness.fresh(args=["--store", pg_db("hg_e2e_claims"), "--node-id", "a", "--auth-device", "1"]
               + LEASE)
def test_kill_9_of_the_owner_during_claims_and_score_submits(d):
    """FleetIQ claims and leaderboard submits through both nodes while the owner is killed: no
    game server is claimed twice, every acknowledged claim holds after the takeover, and every
    acknowledged best score is on the board."""
    url = d.args[d.args.index("--store") + 1]
    c = d.client()
    harness.create_group(c, "fault-g", MaxSize=4)
    for k in range(300):
        harness.register(c, "fault-g", "gs-%03d" % k)
    ok(reg_call(d, "POST", "/v1/leaderboards", {"id": "fault-lb", "order": "desc",
                                                  "operator": "best"}))
    players = [device_login(d, "device-lb-fault-%d" % i) for i in range(3)]
    b = standby(url, "b")
    nodes = [d, b]
    claims, best, stop = [], {}, threading.Event()

    def claimer(i):
        n = 0
        while not stop.is_set():
            n += 1
            try:
                gs = harness.gs_claim(nodes[n % 2].client(), "fault-g")
                claims.append(gs["GameServerId"])
            except Exception:
                time.sleep(0.05)

    def submitter(i):
        n = 0
        while not stop.is_set():
            n += 1
            try:
                r = player_call(nodes[n % 2], "POST", "/v1/leaderboards/fault-lb/scores",
                                {"score": n}, token=players[i]["token"])
                if r.status == 200:
                    best[i] = max(best.get(i, 0), n)
                else:
                    time.sleep(0.05)
            except OSError:
                time.sleep(0.05)
    kill_owner_under_load(d, b, stop,
                          [threading.Thread(target=claimer, args=(i,)) for i in range(2)] +
                          [threading.Thread(target=submitter, args=(i,)) for i in range(3)])
    print("  %d claims and %d players' submits acknowledged around the kill"
          % (len(claims), len(best)))
    assert len(claims) > 10 and len(best) == 3, (len(claims), best)
    assert len(claims) == len(set(claims)), "a game server was claimed twice"
    cb = b.client()
    for gid in claims:
        got = harness.gs_get(cb, "fault-g", gid)
        assert got["ClaimStatus"] == "CLAIMED", got
    for i, me in enumerate(players):
        r = player_call(b, "GET", "/v1/leaderboards/fault-lb/entries/%s?around=0" %
                        me["player_id"], token=me["token"])
        assert r.status == 200, r
        mine = [e for e in r.json()["items"] if e["player_id"] == me["player_id"]]
        assert mine and mine[0]["score"] >= best[i], (i, best[i], r.json())
    assert b.stop() == 0
    d.start(port=d.port)  # node a again, for the harness's clean stop


class Processes:
    """Server SDK processes (tests/e2e/glsdk.py) of one fleet on one compute, each connected to
    the node given; each activates the game session it is given (again after a reconnect, while
    the activation has not been acknowledged). move(a, b) points the processes of node a at node
    b, as a load balancer or DNS would once a is dead: their reconnects go there."""

    def __init__(self, fleet_id, compute, token):
        self.fleet_id, self.compute, self.token = fleet_id, compute, token
        self.sdks, self.todo, self.active = [], {}, {}
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.thread = threading.Thread(target=self._activate, daemon=True)
        self.thread.start()

    def start(self, node, n):
        for _ in range(n):
            sdk = glsdk.ServerSdk("ws://127.0.0.1:%d/sdk" % node.port, self.fleet_id, self.compute,
                                  auth_token=self.token, call_timeout=5, auto_reconnect=True,
                                  reconnect_delay=0.3, reconnect_attempts=8)
            sdk.on("CreateGameSession", lambda msg, sdk=sdk: self._given(sdk, msg))
            sdk.connect()
            sdk.process_ready(7000 + len(self.sdks))
            self.sdks.append(sdk)

    def _given(self, sdk, msg):
        with self.lock:
            self.todo[msg["GameSessionId"]] = sdk

    def _activate(self):
        while not self.stop.is_set():
            with self.lock:
                todo = list(self.todo.items())
            for gs, sdk in todo:
                try:
                    sdk.activate_game_session(gs, timeout=2)
                    outcome = "active"
                except glsdk.SdkError as e:  # closed or timed out: again once reconnected
                    outcome = "refused" if isinstance(e.status_code, int) else None
                if outcome:
                    with self.lock:
                        self.todo.pop(gs, None)
                        self.active[gs] = outcome
            time.sleep(0.05)

    def move(self, a, b):
        # every node of a (a 3-node cluster in the cluster pass; each read of a.port names the
        # next node, so comparing with a.port moved only the processes it happened to name, and
        # the others reconnected to dead nodes until their placements timed out)
        to = "127.0.0.1:%d/" % b.ports[0]
        for sdk in self.sdks:
            for port in a.ports:
                sdk.url = sdk.url.replace("127.0.0.1:%d/" % port, to)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for sdk in self.sdks:
            sdk.close()


@harness.fresh(args=["--store", pg_db("hg_e2e_placements"), "--node-id", "a"] + LEASE)
def test_kill_9_of_the_owner_during_placements_and_claims(d):
    """Clients of both nodes start game session placements on a queue and claim FleetIQ game
    servers while the owner is killed; Server SDK processes are connected to either node. Every
    placement acknowledged is there after the takeover, once, and ends FULFILLED; no game server
    is claimed twice; the processes reconnect to the surviving node and their game sessions stay
    ACTIVE. Prints the takeover time (kill -> the first call served)."""
    url = d.args[d.args.index("--store") + 1]
    c = d.client()
    fleet, tok = anywhere_fleet(c, "pl", "custom-pl")
    c.create_game_session_queue(Name="plq", TimeoutInSeconds=60,
                                Destinations=[{"DestinationArn": fleet["FleetArn"]}])
    harness.create_group(c, "pl-g", MaxSize=4)
    for k in range(200):
        harness.register(c, "pl-g", "gs-%03d" % k)
    b = standby(url, "b")
    nodes = [d, b]
    procs = Processes(fleet["FleetId"], "host-1", tok)
    procs.start(d, 16)
    procs.start(b, 16)
    # two game sessions ACTIVE before the kill, one on each node's processes
    before = []
    for i in (0, 16):
        gs = c.create_game_session(FleetId=fleet["FleetId"], MaximumPlayerSessionCount=2,
                                   Location="custom-pl")["GameSession"]
        before.append(gs["GameSessionId"])
    wait_until(lambda: all(c.describe_game_sessions(GameSessionId=g)["GameSessions"][0][
        "Status"] == "ACTIVE" for g in before), timeout=10, what="the first sessions ACTIVE")
    sent, acked, claims, stop = [], {}, [], threading.Event()
    budget = len(procs.sdks) - len(before) - 2  # placements at most: each needs a process

    def placer(i):
        n, pid = 0, None
        while not stop.is_set():
            if pid is None:  # a new placement, while processes are left for it
                if len(sent) >= budget:
                    time.sleep(0.05)
                    continue
                pid = "pl-%d-%d" % (i, n)
                n += 1
                sent.append(pid)
            try:  # an answer lost or refused: the same id again (idempotent)
                out = nodes[i].client().start_game_session_placement(
                    PlacementId=pid, GameSessionQueueName="plq", GameSessionName=pid,
                    MaximumPlayerSessionCount=2, DesiredPlayerSessions=[{"PlayerId": pid}])
                acked[pid] = out["GameSessionPlacement"]["Status"]
                pid = None
                time.sleep(0.1)
            except Exception:
                time.sleep(0.05)

    def claimer(i):
        while not stop.is_set():
            try:
                claims.append(harness.gs_claim(nodes[i].client(), "pl-g")["GameServerId"])
            except Exception:
                pass
            time.sleep(0.1)
    threads = [threading.Thread(target=f, args=(i,)) for f in (placer, claimer) for i in (0, 1)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    t0 = time.monotonic()
    d.kill9()
    procs.move(d, b)

    def served():
        try:
            b.client().describe_game_session_queues(Names=["plq"])
            return True
        except Exception:
            return False
    wait_until(served, timeout=20, interval=0.02, what="node b serving")
    took = time.monotonic() - t0
    print("  takeover: kill -9 -> first call served by node b in %.2f s (lease 2 s)" % took)
    assert took < 2.0 + 15.0, took  # the lease, then loading (a bound against a hang only)
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(20)
    print("  %d placements sent, %d acknowledged, %d claims around the kill"
          % (len(sent), len(acked), len(claims)))
    assert len(acked) >= 6 and len(claims) > 10, (len(acked), len(claims))
    assert len(claims) == len(set(claims)), "a game server was claimed twice"
    cb = b.client()
    for gid in claims:
        assert harness.gs_get(cb, "pl-g", gid)["ClaimStatus"] == "CLAIMED", gid
    # the starts whose answer was lost: again with the same id (idempotent), through node b
    for pid in sent:
        if pid not in acked:
            cb.start_game_session_placement(
                PlacementId=pid, GameSessionQueueName="plq", GameSessionName=pid,
                MaximumPlayerSessionCount=2, DesiredPlayerSessions=[{"PlayerId": pid}])
    # every placement ends FULFILLED, each with a game session of its own
    ends = {}

    def ended():
        for pid in sent:
            if pid not in ends:
                p = cb.describe_game_session_placement(PlacementId=pid)["GameSessionPlacement"]
                if p["Status"] != "PENDING":
                    ends[pid] = p
        return len(ends) == len(sent)
    # (generous: the processes reconnect with their back-off first, slower on a busy box)
    try:
        wait_until(ended, timeout=45, interval=0.2, what="every placement ending")
    except AssertionError:  # what a flake in a full run left (once in two, 2026-12-07)
        print("  still PENDING: %s" % sorted(p for p in sent if p not in ends))
        with procs.lock:
            print("  sessions waiting for activation: %d, activated: %d"
                  % (len(procs.todo), len(procs.active)))
        for k, sdk in enumerate(procs.sdks):
            print("  process %d at %s connected=%s, last: %s"
                  % (k, sdk.url.split("/sdk")[0], sdk.connected,
                     ["%s %.60s" % (e[1], e[3] or "") for e in list(sdk.events)[-2:]]))
        raise
    states = sorted(set(p["Status"] for p in ends.values()))
    assert states == ["FULFILLED"], {pid: p["Status"] for pid, p in ends.items()}
    by_session = {p["GameSessionId"]: pid for pid, p in ends.items()}
    assert len(by_session) == len(ends), "two placements share a game session"
    sessions = []
    for page in cb.get_paginator("describe_game_sessions").paginate(FleetId=fleet["FleetId"]):
        sessions += page["GameSessions"]
    placed = [s for s in sessions if s.get("Name", "").startswith("pl-")]
    assert sorted(s["Name"] for s in placed) == sorted(sent), "a placement made two sessions"
    for s in placed:
        assert s["Status"] == "ACTIVE" and by_session[s["GameSessionId"]] == s["Name"], s
    # the processes reconnected to node b; the sessions ACTIVE before the kill still are
    wait_until(lambda: all(sdk.connected for sdk in procs.sdks), timeout=15,
               what="every process reconnected")
    assert all(("127.0.0.1:%d/" % b.port) in sdk.url for sdk in procs.sdks)
    for sdk in procs.sdks:
        sdk.heartbeat()
    for g in before:
        got = cb.describe_game_sessions(GameSessionId=g)["GameSessions"][0]
        assert got["Status"] == "ACTIVE", got
    procs.close()
    rc = b.stop()
    assert rc == 0, "node b exited %s\n%s" % (rc, b.log_tail(60))
    d.start(port=d.port)  # node a again, for the harness's clean stop


@harness.fresh(args=["--store", pg_db("hg_e2e_fence"), "--node-id", "a"] + LEASE)
def test_a_paused_node_cannot_write_after_it_wakes(d):
    """SIGSTOP past the lease: the standby takes over; after SIGCONT the old node's commit is
    refused by the fencing check (its epoch is gone), and it stands by."""
    d.client().create_location(LocationName="custom-a")
    url = d.args[d.args.index("--store") + 1]
    b = standby(url, "b")
    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: serves_itself(b), timeout=20, interval=0.05,
                   what="node b taking over")
        b.client().create_location(LocationName="custom-b")
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    try:
        d.client().create_location(LocationName="custom-late")
        late = "acknowledged"
    except Exception as e:
        late = type(e).__name__
    assert late != "acknowledged", "the paused node wrote after it woke"
    names = [x["LocationName"] for x in b.client().list_locations()["Locations"]]
    assert "custom-b" in names and "custom-late" not in names, names
    wait_until(lambda: "relaying to node b at" in d.output(), timeout=15,
               what="node a standing by, relaying to node b")
    names = [x["LocationName"] for x in d.client().list_locations()["Locations"]]
    assert "custom-b" in names, names  # node a's port now reaches node b
    assert "fenced" in d.output() or "lease lost" in d.output(), d.log_tail(30)
    m = b.http("GET", "/metrics").body.decode()
    assert "hangar_cluster_partitions_owned 113" in m and "hangar_cluster_lease_epoch 2" in m, m
    assert b.stop() == 0


@harness.fresh(args=["--store", pg_db("hg_e2e_restart")])
def test_postgres_restart_fails_writes_meanwhile_then_serves_again(d):
    """PostgreSQL stops under a running hangard: a write fails (the commit in flight is not
    acknowledged), hangard waits for the store, and once PostgreSQL is back it serves again
    with everything acknowledged before."""
    c = d.client()
    c.create_location(LocationName="custom-before")
    data = os.path.join(PG_DIR, "data")
    port = PG_URL.rsplit(":", 1)[1].split("/")[0]
    subprocess.check_call([os.path.join(ROOT, "scripts", "pg-local"), "stop", data])
    try:
        c.create_location(LocationName="custom-during")
        during = "acknowledged"
    except Exception as e:  # a 5xx, or the connection refused while hangard waits
        during = type(e).__name__
    assert during != "acknowledged", "a write was acknowledged while PostgreSQL was down"
    # while it waits for PostgreSQL, every request gets a clear 503 in the API's own shape

    def unavailable():
        try:
            harness.expect_error("ServiceUnavailableException", d.client().list_locations)
        except Exception:
            return False
        r = d.http("GET", "/v1/events")
        return r.status == 503 and r.json()["error"]["code"] == "unavailable"
    wait_until(unavailable, timeout=15, interval=0.1, what="503 ServiceUnavailable meanwhile")
    subprocess.check_call([os.path.join(ROOT, "scripts", "pg-local"), "start", data, port],
                          stdout=subprocess.DEVNULL)

    def back():
        try:
            return [x["LocationName"] for x in d.client().list_locations()["Locations"]]
        except Exception:
            return None
    names = wait_until(back, timeout=30, interval=0.5, what="hangard serving again")
    assert "custom-before" in names and "custom-during" not in names, names
    d.client().create_location(LocationName="custom-after")
    assert "serving again" in d.output() or "restart" in d.output(), d.log_tail(40)


@harness.embedded_only  # reads or breaks hangar.db itself
@harness.fresh(args=["--auth-device", "1"])
def test_migrate_copies_an_embedded_store_into_postgres(d):
    """hangard migrate: what an embedded (SQLite) hangard wrote is served by a hangard on
    PostgreSQL after the copy; a second copy into the same database is refused."""
    c = d.client()
    c.create_location(LocationName="custom-mig")
    fleet = c.create_fleet(Name="mig", ComputeType="ANYWHERE",
                           Locations=[{"Location": "custom-mig"}])["FleetAttributes"]
    me = device_login(d, "device-mig-1")
    ok(reg_call(d, "PUT", "/v1/catalog/items/shield", {"price": {"gold": 5}, "stackable": True}))
    ok(reg_call(d, "POST", "/v1/players/%s/wallet/credits" % me["player_id"],
                {"currency": "gold", "amount": 50, "receipt_id": "r-mig-1"}))
    ok(player_call(d, "POST", "/v1/purchases",
                   {"sku": "shield", "quantity": 2, "idempotency_key": "m1"}, token=me["token"]))
    assert d.stop() == 0
    url = pg_db("hg_e2e_migrate")
    p = harness.hangard_cli("migrate", "--data", d.data, "--store", url)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert "copied and counted" in p.stdout, p.stdout
    again = harness.hangard_cli("migrate", "--data", d.data, "--store", url)
    assert again.returncode == 1 and "empty database" in again.stderr, again
    # the same daemon, now on PostgreSQL
    d.args += ["--store", url]
    d.start()
    c = d.client()
    assert c.describe_fleet_attributes(FleetIds=[fleet["FleetId"]])["FleetAttributes"][0][
        "Name"] == "mig"
    wallet = ok(reg_call(d, "GET", "/v1/players/%s/wallet" % me["player_id"]))
    assert wallet["balances"] == {"gold": 40}, wallet
    r = player_call(d, "POST", "/v1/purchases",
                    {"sku": "shield", "quantity": 2, "idempotency_key": "m1"}, token=me["token"])
    assert r.status in (200, 201) and r.headers.get("idempotent-replayed") == "true", r
    events = ok(reg_call(d, "GET", "/v1/events?type=payment.purchase"))
    assert len(events["items"]) == 1, events


harness.run()
