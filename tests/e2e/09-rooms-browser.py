"""09 the rooms demo page in a real browser: headless Chromium, driven over the Chrome DevTools
Protocol (websocket-client), opens hangard's /examples/ page twice, each page in its own browser
context (its own storage, so its own device login and player). The first opens a tic-tac-toe
room from the page's lobby, the second follows its link, and they play by clicking cells until X
wins; each page must show the board, the winning line and who won, and
a third client in the room must have seen the same game; then both ask for a rematch and the
sides swap. A chat room opened the same way carries a line from one page to the other.

Chromium comes from scripts/deps (Debian's `chromium`); without it this file FAILS, it does not
skip."""

import json
import os
import shutil
import signal
import subprocess
import time

import websocket

import harness
from harness import fresh, reg_call

rooms = __import__("09-rooms")
examples = __import__("09-rooms-examples")

EXAMPLES = examples.EXAMPLES
OPEN = ["--auth-device", "1", "--examples-dir", EXAMPLES]
STEP_S = 10.0  # the longest any one step may take before the test fails saying which


class Chromium:
    """Headless Chromium with the DevTools Protocol on a port it picks (DevToolsActivePort)."""

    def __init__(self):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        assert exe, ("chromium is not installed: scripts/deps installs it (Debian: apt-get install "
                     "--no-install-recommends chromium); this test does not skip without it")
        self.profile = harness.tmpdir("hangar-e2e-chromium-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        argv = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-dev-shm-usage", "--mute-audio", "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1", "--user-data-dir=" + self.profile,
                "about:blank"]
        # its temporary files (a SingletonSocket directory) go under the profile too
        tmp = os.path.join(self.profile, "tmp")
        os.mkdir(tmp)
        env = dict(os.environ, TMPDIR=tmp)
        with open(self.log_path, "wb") as log:
            # a process group of its own: every helper process is killed with it (close())
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env, start_new_session=True,
                                         preexec_fn=harness._die_with_parent)
        self.browser = None
        try:
            port_file = os.path.join(self.profile, "DevToolsActivePort")
            lines = harness.wait_until(lambda: self._read_port(port_file), STEP_S, 0.05,
                                       "Chromium's DevToolsActivePort")
            self.port = int(lines[0])
            self.browser = Cdp("ws://127.0.0.1:%d%s" % (self.port, lines[1]), "browser")
        except BaseException:
            self.close()
            raise

    def _read_port(self, path):
        if self.proc.poll() is not None:
            raise AssertionError("chromium exited %s before listening:\n%s" % (
                self.proc.returncode, self.log_tail()))
        try:
            with open(path) as f:
                lines = f.read().split()
            return lines if len(lines) >= 2 else None
        except OSError:
            return None

    def log_tail(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        lines = [ln for ln in lines if "dbus" not in ln]  # no system bus here: noise
        return "\n".join("  chromium| " + ln for ln in lines[-n:])

    def new_page(self, name):
        """A tab in a browser context of its own (storage not shared with the other pages)."""
        ctx = self.browser.call("Target.createBrowserContext")["browserContextId"]
        tid = self.browser.call("Target.createTarget", {"url": "about:blank",
                                                        "browserContextId": ctx})["targetId"]
        page = Cdp("ws://127.0.0.1:%d/devtools/page/%s" % (self.port, tid), name)
        page.call("Runtime.enable")
        return page

    def close(self):
        if self.browser:
            self.browser.close()
        if self.proc.poll() is None:
            for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # helpers that outlived the browser
        except ProcessLookupError:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)


class Cdp:
    """One DevTools target (the browser or a page): call() sends a command and reads until its
    answer; the events read meanwhile are kept (console messages and exceptions, for reports)."""

    def __init__(self, url, name):
        self.name = name
        # no Origin header: Chromium refuses DevTools sockets from origins it was not told of
        self.ws = websocket.create_connection(url, timeout=STEP_S, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, params=None):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        deadline = time.monotonic() + STEP_S
        while time.monotonic() < deadline:
            m = json.loads(self.ws.recv())
            if m.get("id") == mid:
                assert "error" not in m, "%s: %s -> %s" % (self.name, method, m["error"])
                return m.get("result", {})
            if m.get("method") in ("Runtime.consoleAPICalled", "Runtime.exceptionThrown"):
                self.events.append(m)
        raise AssertionError("%s: no answer to %s within %.0fs" % (self.name, method, STEP_S))

    def js(self, expr):
        """The value of a JavaScript expression in the page (awaited when a promise)."""
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True})
        assert "exceptionDetails" not in r, "%s: %s threw %s" % (
            self.name, expr, r["exceptionDetails"].get("exception", {}).get("description"))
        return r["result"].get("value")

    def view(self):
        """What the page shows: status line, board, marks, log lines, its body's data-*; None
        while the page is not (yet) ours."""
        return self.js("""!document.getElementById('status') ? null : ({
            status: document.getElementById('status').textContent,
            data: Object.assign({}, document.body.dataset),
            board: Array.from(document.querySelectorAll('.cell'), c => c.textContent),
            win: Array.from(document.querySelectorAll('.cell.win'), c => Number(c.dataset.cell)),
            enabled: Array.from(document.querySelectorAll('.cell'), c => !c.disabled),
            you: document.getElementById('you').textContent,
            log: Array.from(document.querySelectorAll('#log li'), li => li.textContent),
            rematch: !document.getElementById('rematch').hidden,
        })""")

    def console(self):
        out = []
        for e in self.events[-10:]:
            p = e["params"]
            if e["method"] == "Runtime.exceptionThrown":
                out.append("exception: %s" % p["exceptionDetails"].get("exception", {}).get(
                    "description", p["exceptionDetails"].get("text")))
            else:
                out.append("console.%s: %s" % (p["type"], " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p["args"])))
        return out

    def wait(self, pred, what):
        """Polls view() until pred(view) holds; fails naming what and showing the page."""
        deadline = time.monotonic() + STEP_S
        v = err = None
        while time.monotonic() < deadline:
            try:
                v = self.view()
            except AssertionError as e:  # a navigation replaced the page under the evaluation
                err = e
                v = None
            if v is not None and pred(v):
                return v
            time.sleep(0.05)
        raise AssertionError("%s: no %s within %.0fs; the page shows %s%s; console: %s" % (
            self.name, what, STEP_S, json.dumps(v), " (last error: %s)" % err if err else "",
            self.console()))

    def open(self, url):
        self.call("Page.navigate", {"url": url})

    def click(self, cell):
        """A real mouse click in the middle of the cell's button."""
        box = self.js("(() => { const r = document.querySelector('.cell[data-cell=\"%d\"]')"
                      ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; "
                      "})()" % cell)
        for t in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": t, "x": box[0], "y": box[1],
                                                   "button": "left", "clickCount": 1})

    def screenshot(self, path):
        """A PNG of the page (E2E_SCREENSHOTS=<dir> asks for them: see the test)."""
        import base64
        png = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(png))

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def create_room(d, script):
    r = reg_call(d, "POST", "/v1/rooms", {"script": script})
    assert r.status == 201, r
    return r.json()["room_id"]


@fresh(args=OPEN)
def test_two_pages_play_tictactoe_to_the_end_and_chat(d):
    t0 = time.monotonic()
    examples.deploy(d, "tictactoe")
    examples.deploy(d, "chat")
    chrome = Chromium()
    pages, watcher = [], None
    try:
        a, b = chrome.new_page("page A"), chrome.new_page("page B")
        pages += [a, b]
        # page A opens a room from the page's lobby (players may: on_create_request) and sits
        # as X; its address then carries the room
        base = d.url  # page A's node (B opens A's address: the same node)
        a.open(base + "/examples/")
        a.wait(lambda v: v["data"].get("phase") == "lobby", "the lobby")
        a.js("document.getElementById('new-tictactoe').click()")
        va = a.wait(lambda v: v["data"].get("phase") == "waiting" and v["you"] == "X",
                    "seat as X, waiting")
        url = a.js("location.href")
        rid = a.js("new URLSearchParams(location.search).get('room')")
        assert rid and url == base + "/examples/?room=" + rid, url
        # a third player in the room that only listens (it never says hello: no seat)
        watcher = rooms.Client(d, rid, rooms.login(d, 99))
        b.open(url)  # the second page sits as O, and the game starts
        vb = b.wait(lambda v: v["data"].get("phase") == "playing" and v["you"] == "O",
                    "seat as O, playing")
        va = a.wait(lambda v: v["data"].get("phase") == "playing", "the game to start")
        assert va["status"] == "Your turn (X)" and vb["status"] == "X to play", (va, vb)
        assert all(va["enabled"]) and not any(vb["enabled"]), (va, vb)
        me_a, me_b = va["data"]["me"], vb["data"]["me"]
        assert me_a and me_b and me_a != me_b, (me_a, me_b)

        # X: 4, 2, 6 (the anti-diagonal); O: 0, 1
        moves = [(a, 4), (b, 0), (a, 2), (b, 1), (a, 6)]
        board = [""] * 9
        for n, (page, cell) in enumerate(moves):
            mark = "X" if page is a else "O"
            other = b if page is a else a
            page.click(cell)
            board[cell] = mark
            want = list(board)
            other.wait(lambda v: v["board"] == want, "%s on cell %d" % (mark, cell))
            page.wait(lambda v: v["board"] == want, "%s on cell %d" % (mark, cell))
            if n == 0:  # X clicking out of turn, and O on a taken cell, change nothing
                a.click(0)
                b.click(4)
                time.sleep(0.2)
                assert a.view()["board"] == want and b.view()["board"] == want
        va = a.wait(lambda v: v["data"].get("phase") == "over", "the end of the game")
        vb = b.wait(lambda v: v["data"].get("phase") == "over", "the end of the game")
        final = ["O", "O", "X", "", "X", "", "X", "", ""]
        for v in (va, vb):
            assert v["board"] == final and v["win"] == [2, 4, 6], v
            assert v["data"]["winner"] == "X" and not any(v["enabled"]) and v["rematch"], v
        assert va["status"] == "X wins: you win!" and vb["status"] == "X wins: you lose", (va, vb)
        shots = os.environ.get("E2E_SCREENSHOTS")  # a directory: what the pages showed
        if shots:
            a.screenshot(os.path.join(shots, "tictactoe-a.png"))
            b.screenshot(os.path.join(shots, "tictactoe-b.png"))

        # what the room saw: the welcome-less listener got every state, in order
        watcher.wait(lambda ms: any(m.get("type") == "state" and m["data"]["phase"] == "over"
                                    for m in ms if isinstance(m, dict)), what="the final state")
        states = [m["data"] for m in watcher.room_msgs("state")]
        lasts = [(s["last"]["cell"], s["last"]["mark"], s["last"]["by"]) for s in states
                 if s["last"]]
        assert lasts == [(4, "X", me_a), (0, "O", me_b), (2, "X", me_a), (1, "O", me_b),
                         (6, "X", me_a)], lasts
        end = states[-1]
        assert end["winner"] == "X" and end["line"] == [2, 4, 6] and end["board"] == final, end
        assert end["x"] == me_a and end["o"] == me_b and end["score"]["X"] == 1, end
        room = reg_call(d, "GET", "/v1/rooms/" + rid).json()
        assert set(room["players"]) == {me_a, me_b, watcher.player["player_id"]}, room
        assert room["connected"] == 3, room

        # rematch: both ask, the sides swap (B opens as X)
        a.js("document.getElementById('rematch').click()")
        a.wait(lambda v: "rematch asked" in v["status"], "rematch asked")
        b.js("document.getElementById('rematch').click()")
        vb = b.wait(lambda v: v["data"].get("phase") == "playing" and v["you"] == "X",
                    "the rematch, as X")
        va = a.wait(lambda v: v["data"].get("phase") == "playing" and v["you"] == "O",
                    "the rematch, as O")
        assert vb["board"] == [""] * 9 and vb["status"] == "Your turn (X)", vb

        # the page's chat, in the tic-tac-toe room
        b.js("document.getElementById('chat-input').value = 'gg';"
             "document.getElementById('chat-form').requestSubmit()")
        a.wait(lambda v: "X: gg" in v["log"], "B's chat line")

        # a chat room: nicknames from ?name=, a line from one page to the other
        cid = create_room(d, "chat")
        a.open(d.url + "/examples/?room=%s&name=ann" % cid)
        a.wait(lambda v: v["status"] == "Chatting as ann", "chatting as ann")
        b.open(d.url + "/examples/?room=%s&name=bob" % cid)
        b.wait(lambda v: v["status"] == "Chatting as bob", "chatting as bob")
        a.js("document.getElementById('chat-input').value = 'hello bob';"
             "document.getElementById('chat-form').requestSubmit()")
        b.wait(lambda v: "ann: hello bob" in v["log"], "ann's line")
        for p in pages:
            assert not [e for e in p.console() if e.startswith("exception")], p.console()
    except BaseException:
        print(chrome.log_tail())
        raise
    finally:
        for p in pages:
            p.close()
        chrome.close()
        if watcher:
            watcher.close()
    took = time.monotonic() - t0
    print("  (browser test took %.1fs)" % took)
    assert took < 20, "the browser test took %.1fs (budget 20 s)" % took


if __name__ == "__main__":
    harness.run()
