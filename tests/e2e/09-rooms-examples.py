"""09 the rooms examples (examples/rooms/) with real WebSocket clients: tic-tac-toe refuses a move
out of turn, on a taken cell, off the board, by a watcher and after the end; detects a win (with
its line), a draw and a forfeit; plays a rematch with the sides swapped; refuses forged types.
The chat keeps nicknames unique, caps line length, gives a newcomer the last lines, lets only
the room's owner kick (and the kicked player stay out), and lets players open rooms with sane
options only. hangard serves the page under /examples/ (GET/HEAD, exact names, no traversal).
The page itself, in Chromium: 09-rooms-browser.py."""

import json
import os

import harness
from harness import fresh, player_call, reg_call

rooms = __import__("09-rooms")
Client, login = rooms.Client, rooms.login

EXAMPLES = os.path.join(harness.REPO, "examples", "rooms")
OPEN = ["--auth-device", "1", "--room-rate-per-s", "1000",
        "--examples-dir", EXAMPLES]


def deploy(d, name):
    with open(os.path.join(EXAMPLES, name + ".lua")) as f:
        r = reg_call(d, "PUT", "/v1/scripts/" + name, {"source": f.read()})
    assert r.status == 201, r
    return r.json()


def make_room(d, script, **kw):
    r = reg_call(d, "POST", "/v1/rooms", dict(script=script, **kw))
    assert r.status == 201, r
    return r.json()["room_id"]


def of_type(c, t):
    with c.lock:
        return [m for m in c.msgs if isinstance(m, dict) and m.get("type") == t]


def next_of(c, t, n, what=None):
    """Waits for the n-th message of type t (1-based) on c and returns its data."""
    c.wait(lambda ms: len([m for m in ms if isinstance(m, dict) and m.get("type") == t]) >= n,
           what=what or "%s #%d" % (t, n))
    return of_type(c, t)[n - 1]["data"]


class Seat:
    """A client and how many messages of each type it has consumed."""

    def __init__(self, d, rid, n):
        self.player = login(d, n)
        self.id = self.player["player_id"]
        self.c = Client(d, rid, self.player)
        self.seen = {}

    def send(self, t, data=None):
        self.c.send(t, data)

    def expect(self, t, what=None):
        self.seen[t] = self.seen.get(t, 0) + 1
        return next_of(self.c, t, self.seen[t], what)

    def skip_to_last(self, t):
        self.seen[t] = len(of_type(self.c, t))


def move(mover, cell, others=()):
    """A move that must be accepted: every seat sees the new state."""
    mover.send("move", {"cell": cell})
    st = mover.expect("state", "state after move %r" % cell)
    for o in others:
        assert o.expect("state") == st
    assert st["last"]["cell"] == cell and st["last"]["by"] == mover.id, st
    return st


def refused(seat, t, data, says, ref=None):
    seat.send(t, data)
    r = seat.expect("refused", "a refusal of %s %r" % (t, data))
    assert r["ref"] == (ref or t) and says in r["reason"], r
    return r


@fresh(args=OPEN)
def test_tictactoe_turns_cells_win_draw_rematch_forfeit(d):
    assert deploy(d, "tictactoe")["version"] == 1
    rid = make_room(d, "tictactoe")
    x = Seat(d, rid, 1)
    x.send("hello")
    st = x.expect("state")
    assert st["phase"] == "waiting" and st["x"] == x.id and st["o"] is None, st
    assert st["board"] == [""] * 9 and st["turn"] == "X" and st["game"] == 1, st
    refused(x, "move", {"cell": 0}, "waiting for a second player")
    o = Seat(d, rid, 2)
    o.send("hello")
    st = o.expect("state")
    assert x.expect("state") == st
    assert st["phase"] == "playing" and st["o"] == o.id, st
    w = Seat(d, rid, 3)  # a third player watches
    w.send("hello")
    assert w.expect("state") == st  # to it alone: a watcher changes nothing
    refused(w, "move", {"cell": 0}, "watching")
    refused(o, "move", {"cell": 0}, "not your turn")
    st = move(x, 4, [o, w])
    assert st["board"][4] == "X" and st["turn"] == "O", st
    refused(o, "move", {"cell": 4}, "taken")
    refused(o, "move", {"cell": 9}, "0..8")
    refused(o, "move", {"cell": "1"}, "0..8")
    refused(o, "move", None, "0..8")
    refused(x, "move", {"cell": 1}, "not your turn")
    move(o, 1, [x, w])
    move(x, 0, [o, w])
    move(o, 2, [x, w])
    st = move(x, 8, [o, w])
    assert st["phase"] == "over" and st["winner"] == "X" and st["reason"] == "line", st
    assert st["line"] == [0, 4, 8] and st["score"] == {"X": 1, "O": 0, "draw": 0}, st
    assert st["board"] == ["X", "O", "O", "", "X", "", "", "", "X"], st
    refused(o, "move", {"cell": 3}, "over")
    refused(w, "rematch", None, "watching")
    # a forged state is refused (the script refuses unknown types; "state" is its own)
    o.send("state", {"winner": "O"})
    o.c.wait(lambda ms: any(m.get("type") == "error" for m in ms if isinstance(m, dict)))
    assert of_type(o.c, "error")[0]["data"]["code"] == "no_handler"
    # a rematch needs both; then the sides swap and X opens
    x.send("rematch")
    st = x.expect("state")
    assert st["rematch"] == {"X": True, "O": False} and st["phase"] == "over", st
    assert o.expect("state") == st
    o.send("rematch")
    st = o.expect("state")
    assert st["phase"] == "playing" and st["game"] == 2 and st["x"] == o.id and st["x"] != x.id
    assert st["board"] == [""] * 9 and st["winner"] is None and st["line"] is None, st
    by_id = {s.id: s for s in (x, o, w)}

    def seated(st):
        """The seats playing X and O in st, each caught up to st."""
        for s in by_id.values():
            s.c.wait(lambda ms: any(isinstance(m, dict) and m.get("type") == "state" and
                                    m["data"] == st for m in ms), what="state %r" % st)
            s.skip_to_last("state")
        return by_id[st["x"]], by_id[st["o"]]

    x, o = seated(st)
    for i, cell in enumerate([0, 1, 2, 4, 3, 5, 7, 6, 8]):  # X O X / X O O / O X X
        st = move(x if i % 2 == 0 else o, cell, [o if i % 2 == 0 else x])
    assert st["phase"] == "over" and st["winner"] == "draw" and st["reason"] == "draw", st
    assert st["line"] is None and st["score"] == {"X": 1, "O": 0, "draw": 1}, st
    # a player who leaves mid-game forfeits; a watcher takes the free seat and a game starts
    x.send("rematch")
    o.send("rematch")
    w.c.wait(lambda ms: of_type(w.c, "state")[-1]["data"]["game"] == 3, what="game 3")
    x, o = seated(of_type(w.c, "state")[-1]["data"])
    move(x, 4, [o, w])
    x.c.close()  # X leaves (close 1000): O wins by forfeit
    st = o.expect("state", "the forfeit")
    assert st["phase"] == "over" and st["winner"] == "O" and st["reason"] == "forfeit", st
    assert st["x"] is None and st["score"] == {"X": 1, "O": 1, "draw": 1}, st
    assert w.expect("state") == st
    refused(o, "rematch", None, "waiting for a second player")
    w.send("hello")  # the watcher sits as X: a new game starts
    st = w.expect("state", "game 4")
    assert st["phase"] == "playing" and st["game"] == 4 and st["x"] == w.id, st
    assert st["o"] == o.id and st["board"] == [""] * 9 and st["turn"] == "X", st
    w.send("say", {"text": "gg"})
    said = o.expect("said")
    assert said == {"text": "gg"} and of_type(o.c, "said")[-1]["from"] == w.id
    refused(w, "say", {"text": "x" * 201}, "1..200")
    for s in (o, w):
        s.c.close()


@fresh(args=OPEN)
def test_chat_names_length_history_kick(d):
    deploy(d, "chat")
    a, b = login(d, 1), login(d, 2)

    def player_create(p, options):
        return player_call(d, "POST", "/v1/rooms", {"script": "chat", "options": options},
                           token=p["token"])

    bad = player_create(a, {"history": 500})
    assert bad.status == 403 and "history is 0..200" in bad.json()["error"]["message"], bad
    r = player_create(a, {"max_len": 10, "history": 2})
    assert r.status == 201, r
    rid = r.json()["room_id"]
    ann = Seat(d, rid, 1)
    ann.send("hello", {"name": "ann"})
    assert ann.expect("nick") == {"name": "ann", "old": None}
    h = ann.expect("history")
    assert h["names"] == {ann.id: "ann"} and h["owner"] == ann.id and not h["lines"], h
    for t in ("one", "two", "three"):
        ann.send("say", {"text": t})
    for t in ("one", "two", "three"):
        line = ann.expect("said")
        assert line["name"] == "ann" and line["text"] == t and isinstance(line["at"], int), line
    refused(ann, "say", {"text": "01234567890"}, "1..10 characters")
    refused(ann, "say", {"text": ""}, "1..10 characters")
    refused(ann, "nick", {"name": "no spaces"}, "nickname")
    bob = Seat(d, rid, 2)
    bob.send("hello", {"name": "ann"})
    r = bob.expect("refused")
    assert r["ref"] == "nick" and "taken" in r["reason"], r
    h = bob.expect("history")  # the last 2 lines of 3, and who is who
    assert [(ln["name"], ln["text"]) for ln in h["lines"]] == [("ann", "two"), ("ann", "three")], h
    assert h["names"] == {ann.id: "ann"} and h["owner"] == ann.id, h
    bob.send("say", {"text": "/nick bob"})
    assert bob.expect("nick") == {"name": "bob", "old": None}
    bob.send("say", {"text": "hi ann"})
    line = ann.expect("said")
    assert line["name"] == "bob" and line["text"] == "hi ann", line
    assert of_type(ann.c, "said")[-1]["from"] == bob.id
    refused(bob, "say", {"text": "/kick ann"}, "owner", ref="kick")
    refused(ann, "kick", {"name": "carl"}, "nobody else")
    ann.send("say", {"text": "/kick bob"})
    assert ann.expect("kicked") == {"name": "bob", "by": "ann"}
    assert bob.c.wait_closed() == 4010
    ann.c.wait(lambda ms: any(m.get("type") == "leave" and m.get("from") == bob.id
                              for m in ms if isinstance(m, dict)), what="bob's leave")
    st = rooms.upgrade_status(d, rid, ["Authorization: Bearer " + bob.player["token"]])
    assert st == 403, st  # kicked: on_join refuses
    ann.c.close()


def get(d, method, path, headers=None):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)  # the path as it is
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return harness.Resp(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


@fresh(args=OPEN)
def test_the_page_is_served_read_only(d):
    types = {"index.html": "text/html", "app.js": "text/javascript",
             "style.css": "text/css", "tictactoe.lua": "text/plain", "chat.lua": "text/plain",
             "README.md": "text/markdown"}
    for name, ctype in types.items():
        r = get(d, "GET", "/examples/" + name)
        with open(os.path.join(EXAMPLES, name), "rb") as f:
            assert r.status == 200 and r.body == f.read(), (name, r)
        assert r.headers["content-type"].startswith(ctype), (name, r.headers)
        assert r.headers["x-content-type-options"] == "nosniff", r.headers
    index = get(d, "GET", "/examples/")
    assert index.status == 200 and index.body == get(d, "GET", "/examples/index.html").body
    r = get(d, "GET", "/examples?room=x")
    assert r.status == 301 and r.headers["location"] == "/examples/", r
    head = get(d, "HEAD", "/examples/index.html")
    assert head.status == 200 and head.body == b"", head
    assert int(head.headers["content-length"]) == len(index.body), head.headers
    assert get(d, "GET", "/examples/app.js?v=1").status == 200  # a query changes nothing
    for bad in ("/examples/../README.md", "/examples/..%2FREADME.md", "/examples/%2e%2e/Makefile",
                "/examples//etc/passwd", "/examples/README", "/examples/.hidden.js",
                "/examples/index.html%00.js", "/examples/sub/index.html", "/examples/nope.html",
                "/examples/..", "/examples/."):
        r = get(d, "GET", bad)
        assert r.status == 404, (bad, r)
    for m in ("POST", "PUT", "DELETE"):
        r = get(d, m, "/examples/index.html", {"Content-Length": "0"})
        assert r.status == 405 and r.headers["allow"] == "GET, HEAD", (m, r)
    assert get(d, "GET", "/examplesx").status == 404  # another prefix


@fresh(args=["--auth-device", "1"])
def test_no_examples_dir_no_pages(d):
    assert get(d, "GET", "/examples/index.html").status == 404
    assert get(d, "GET", "/examples/").status == 404


def readme_block(name):
    import re
    with open(os.path.join(EXAMPLES, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- rooms-readme: %s .*?-->\s*```sh\n(.*?)```" % re.escape(name), text, re.S)
    assert m, "examples/rooms/README.md has no block named %s" % name
    return m.group(1)


@fresh(admin=False, args=OPEN)
def test_the_readme_commands_deploy_and_create(d):
    """The README's curl commands, as written (only the endpoint and data directory differ)."""
    import subprocess
    d.load_credentials()
    code = readme_block("deploy") + readme_block("create")
    code = code.replace("http://127.0.0.1:7770", d.url).replace("./hangar-data", d.data)
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=harness.REPO,
                       env=harness.clean_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "the README's commands failed:\n%s\n%s" % (p.stdout, p.stderr)
    out = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
    assert [(o.get("name"), o.get("version")) for o in out[:2]] == [("tictactoe", 1), ("chat", 1)]
    assert out[2]["script"] == "chat" and out[2]["room_id"], out
    r = reg_call(d, "GET", "/v1/rooms/" + out[2]["room_id"])
    assert r.status == 200 and r.json()["script_version"] == 1, r


@harness.no_daemon
def test_a_missing_examples_dir_stops_start_up(d):
    p = harness.hangard_cli("--listen", "127.0.0.1:0", "--data", harness.tmpdir(),
                            "--examples-dir", "/nonexistent-hangar-examples")
    assert p.returncode == 1 and "examples-dir /nonexistent-hangar-examples" in p.stderr, p


@harness.no_daemon
def test_examples_dir_limits_and_what_is_not_served(d):
    def start_fails(files, says):
        tmp = harness.tmpdir()
        for name, size in files:
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(b"x" * size)
        p = harness.hangard_cli("--listen", "127.0.0.1:0", "--data", harness.tmpdir(),
                                "--examples-dir", tmp)
        assert p.returncode == 1 and says in p.stderr, p

    start_fails([("f%d.js" % i, 1) for i in range(65)], "more than 64 files")
    start_fails([("a.html", 1 << 19), ("b.html", (1 << 19) + 1)], "over 1048576 bytes")
    tmp = harness.tmpdir()
    for name in ("index.html", ".hidden.js", "run.sh", "notes.JS", "ok.json", "a b.js", "x.js~"):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(name)
    os.mkdir(os.path.join(tmp, "sub.js"))
    elsewhere = os.path.join(harness.tmpdir(), "elsewhere.txt")
    with open(elsewhere, "w") as f:
        f.write("linked")
    os.symlink(elsewhere, os.path.join(tmp, "linked.txt"))  # the directory's owner's choice
    dmn = harness.Daemon(args=["--examples-dir", tmp])
    try:
        dmn.start()
        assert get(dmn, "GET", "/examples/").body == b"index.html"
        r = get(dmn, "GET", "/examples/ok.json")
        assert r.status == 200 and r.headers["content-type"] == "application/json", r
        for name in (".hidden.js", "run.sh", "notes.JS", "a%20b.js", "x.js~", "sub.js"):
            assert get(dmn, "GET", "/examples/" + name).status == 404, name
        assert get(dmn, "GET", "/examples/linked.txt").body == b"linked"
    finally:
        rc = dmn.stop()
    assert rc == 0, "hangard exited %s on SIGTERM\n%s" % (rc, dmn.log_tail())


if __name__ == "__main__":
    harness.run()
