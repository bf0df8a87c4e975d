"""06 game sessions and player sessions with the C server SDK: examples/echo-server built ONLY
against the installed libhangar-server (`cmake --install` of the build dir that holds $HANGARD,
then the example's own Makefile with pkg-config), run as a real game server process. boto3
creates the Anywhere setup; the process goes ready, activates the game session it is given,
accepts and removes its players; SIGKILL ends its game session after the reconnect grace,
SIGTERM ends it at once through ProcessEnding.

With an ASan build dir (HG_SANITIZE=ON, `make e2e-asan`) the installed SDK is instrumented, so
the example is compiled and linked with the same sanitizers and compiler; a leak or UB report
when it exits fails the SIGTERM test through its exit status."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

import harness
from harness import fresh, wait_until

BUILD_DIR = os.path.dirname(harness.HANGARD)
EXAMPLE_SRC = os.path.join(harness.REPO, "examples", "echo-server")
_BUILT = {}  # the example, built once per file: {"bin", "libdir", "sanitized"} or {"error"}


def _cmake_cache(name):
    path = os.path.join(BUILD_DIR, "CMakeCache.txt")
    assert os.path.isfile(path), "%s is not a CMake build dir (no CMakeCache.txt)" % BUILD_DIR
    with open(path) as f:
        for line in f:
            m = re.match(r"^%s:[A-Z]+=(.*)$" % re.escape(name), line.rstrip("\n"))
            if m:
                return m.group(1)
    return None


def _run(argv, env, what, cwd=None):
    p = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=180)
    assert p.returncode == 0, "%s failed (exit %d): %s\n%s%s" % (
        what, p.returncode, " ".join(argv), p.stdout, p.stderr)
    return p.stdout + p.stderr


def _build():
    """Installs the SDK from BUILD_DIR into a temporary prefix and builds the example there with
    its Makefile; returns {"bin", "libdir", "sanitized"}."""
    sdk_dir = os.path.join(BUILD_DIR, "sdk")
    libs = [f for f in ("libhangar-server.so", "libhangar-server.a")
            if not os.path.exists(os.path.join(sdk_dir, f))]
    assert not libs, "%s lacks %s: build the targets hangar-server hangar-server-static" % (
        sdk_dir, ", ".join(libs))
    prefix = harness.tmpdir("hangar-e2e-sdk-")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CFLAGS", "LDFLAGS", "CPPFLAGS",
                        "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "C_INCLUDE_PATH", "CPATH",
                        "LIBRARY_PATH")}
    # Today the SDK's are the build dir's only install rules; installing just its sdk/ subdir
    # stays right if rules are added for targets that this build dir did not build.
    _run(["cmake", "--install", sdk_dir if os.path.isfile(os.path.join(
        sdk_dir, "cmake_install.cmake")) else BUILD_DIR, "--prefix", prefix], env,
        "installing the SDK")
    pcs = []
    for root, _, files in os.walk(prefix):
        pcs += [os.path.join(root, f) for f in files if f == "hangar-server.pc"]
    assert len(pcs) == 1, "want one hangar-server.pc under %s, found %r" % (prefix, pcs)
    pcdir = os.path.dirname(pcs[0])  # lib/pkgconfig or lib/x86_64-linux-gnu/pkgconfig
    libdir = os.path.dirname(pcdir)
    assert os.path.isfile(os.path.join(prefix, "include", "hangar", "server.h")), prefix
    assert os.path.exists(os.path.join(libdir, "libhangar-server.so")), os.listdir(libdir)

    # The example is compiled from a copy: nothing of the source tree is on its include path.
    src = harness.tmpdir("hangar-e2e-echo-")
    for f in ("main.c", "Makefile"):
        shutil.copy(os.path.join(EXAMPLE_SRC, f), src)
    sanitized = (_cmake_cache("HG_SANITIZE") or "OFF").upper() in ("ON", "1", "TRUE", "YES")
    env["PKG_CONFIG_PATH"] = pcdir
    env["CC"] = _cmake_cache("CMAKE_C_COMPILER") or "cc"
    env["CFLAGS"] = "-O1 -g -Werror"
    if sanitized:  # the instrumented library needs the sanitizer runtime in the executable
        env["CFLAGS"] += " -fsanitize=address,undefined -fno-omit-frame-pointer" \
                         " -fno-sanitize-recover=all"
        env["LDFLAGS"] = "-fsanitize=address,undefined"
    out = _run(["make"], env, "building examples/echo-server", cwd=src)
    assert "-I%s" % os.path.join(prefix, "include") in out, "make did not use the SDK's " \
        "pkg-config flags:\n%s" % out
    binary = os.path.join(src, "echo-server")
    assert os.access(binary, os.X_OK), "make built no echo-server:\n%s" % out
    # it resolves the installed library, not one from the build dir or the system
    ldd = _run(["ldd", binary], dict(env, LD_LIBRARY_PATH=libdir), "ldd echo-server")
    m = re.search(r"libhangar-server\.so\.\d+ => (\S+)", ldd)
    assert m and os.path.realpath(m.group(1)).startswith(os.path.realpath(libdir) + "/"), ldd
    return {"bin": binary, "libdir": libdir, "sanitized": sanitized}


def echo_server_binary():
    if not _BUILT:
        try:
            _BUILT.update(_build())
        except AssertionError as e:
            _BUILT["error"] = str(e)
    assert "error" not in _BUILT, _BUILT.get("error")
    return _BUILT


def game_port():
    """A free port players can reach: ProcessReady takes 1..60000 only (as GameLift), while the
    kernel hands out ephemeral ports up to 60999."""
    for _ in range(100):
        port = harness.free_port()
        if port <= 60000:
            return port
    raise AssertionError("no free port <= 60000")


class EchoServerDied(Exception):
    pass


class EchoServer:
    """One examples/echo-server process; its output (stderr, where it logs) is collected."""

    def __init__(self, c, fid, compute, ep):
        built = echo_server_binary()
        tok = c.get_compute_auth_token(FleetId=fid, ComputeName=compute)["AuthToken"]
        self.port = game_port()
        self.process_id = "echo-" + uuid.uuid4().hex[:12]
        env = dict(os.environ)
        env.update({
            "GAMELIFT_SDK_WEBSOCKET_URL": ep,
            "GAMELIFT_SDK_AUTH_TOKEN": tok,
            "GAMELIFT_SDK_PROCESS_ID": self.process_id,
            "GAMELIFT_SDK_HOST_ID": compute,
            "GAMELIFT_SDK_FLEET_ID": fid,
            "PORT": str(self.port),
            "LD_LIBRARY_PATH": built["libdir"],
        })
        self.lines = []
        self.lock = threading.Lock()
        self.p = subprocess.Popen([built["bin"]], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  preexec_fn=harness._die_with_parent)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        _PROCS.append(self)

    def _read(self):
        for raw in self.p.stdout:
            with self.lock:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def output(self):
        with self.lock:
            return "\n".join(self.lines)

    def has(self, pattern):
        with self.lock:
            return any(re.search(pattern, ln) for ln in self.lines)

    def wait_log(self, pattern, timeout=5.0):
        """Waits for a log line: the example logs a call's success after the service answered,
        so the service's state may be visible a moment before the line."""
        wait_until(lambda: self.has(pattern) or self.dead(), timeout,
                   what="echo-server to log %r" % pattern)

    def dead(self):
        """False while it runs; raises EchoServerDied (which wait_until does not swallow, unlike
        AssertionError) once it exited."""
        if self.p.poll() is not None:
            raise EchoServerDied("echo-server exited with %s" % self.p.returncode)
        return False

    def signal(self, sig, timeout=10.0):
        self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("echo-server did not exit within %.0fs of signal %d" % (
                timeout, sig))
        self.reader.join(5)
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


_PROCS = []


@contextlib.contextmanager
def echo_servers():
    """Kills the test's echo-server processes at the end; on failure adds their output to the
    error."""
    del _PROCS[:]
    try:
        yield
    except Exception as e:
        outs = "".join("\n  --- echo-server pid %d (exit %s)\n  | %s" % (
            p.p.pid, p.p.poll(), p.output().replace("\n", "\n  | ")) for p in _PROCS)
        raise AssertionError("%s%s" % (e, outs)) from e
    finally:
        for p in _PROCS:
            p.kill()


def setup(d, loc, fleet_name, compute="host-1"):
    c = d.client()
    try:
        c.create_location(LocationName=loc)
    except c.exceptions.ConflictException:
        pass
    fid = c.create_fleet(Name=fleet_name, ComputeType="ANYWHERE",
                         Locations=[{"Location": loc}])["FleetAttributes"]["FleetId"]
    comp = c.register_compute(FleetId=fid, ComputeName=compute, IpAddress="127.0.0.1",
                              Location=loc)["Compute"]
    ep = comp["GameLiftServiceSdkEndpoint"]
    assert ep.startswith("ws://127.0.0.1:%d/" % d.port), comp
    return c, fid, ep


def utilization(c, fid):
    return c.describe_fleet_utilization(FleetIds=[fid])["FleetUtilization"][0]


def start_ready(c, fid, ep, compute="host-1"):
    """Starts the example and waits until the fleet counts its process as active."""
    srv = EchoServer(c, fid, compute, ep)
    wait_until(lambda: srv.dead() or utilization(c, fid)["ActiveServerProcessCount"] == 1,
               timeout=15, what="1 active server process")
    srv.wait_log(r"process_ready port=%d$" % srv.port)
    return srv


def game_session(c, fid, srv, loc, **kw):
    gs = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=4, Location=loc,
                               **kw)["GameSession"]
    gsid = gs["GameSessionId"]
    assert gs["IpAddress"] == "127.0.0.1" and gs["Port"] == srv.port, gs

    def status():
        srv.dead()
        return c.describe_game_sessions(GameSessionId=gsid)["GameSessions"][0]["Status"]
    # the example activates the session from its on_start_game_session callback
    wait_until(lambda: status() == "ACTIVE", timeout=10, what="game session ACTIVE")
    srv.wait_log(r"game_session_activated id=%s$" % re.escape(gsid))
    return gsid


def describe_gs(c, gsid):
    return c.describe_game_sessions(GameSessionId=gsid)["GameSessions"][0]


def ps_status(c, psid):
    return c.describe_player_sessions(PlayerSessionId=psid)["PlayerSessions"][0]["Status"]


class Player:
    def __init__(self, ip, port, psid):
        self.s = socket.create_connection((ip, port), timeout=10)
        self.f = self.s.makefile("rwb")
        self.send(psid)
        self.hello = self.recv()

    def send(self, line):
        self.f.write((line + "\n").encode())
        self.f.flush()

    def recv(self):
        return self.f.readline().decode("utf-8", "replace").rstrip("\n")

    def close(self):
        self.f.close()
        self.s.close()


@fresh(args=["--sdk-reconnect-grace-s", "1"])
def test_echo_server_full_flow_then_sigkill(d):
    with echo_servers():
        loc = "custom-csdk-1"
        c, fid, ep = setup(d, loc, "c-sdk-flow")
        srv = start_ready(c, fid, ep)
        util = utilization(c, fid)
        assert util["ActiveGameSessionCount"] == 0, util
        assert srv.has(r"listening port=%d sdk_version=\d+\.\d+\.\d+" % srv.port), srv.output()
        # the process registered under the id given in GAMELIFT_SDK_PROCESS_ID
        mirror = wait_until(lambda: [s for s in harness.reg_list_all(d, kind="game")
                                     if s["metadata"].get("fleet_id") == fid],
                            what="the process in the registry")
        assert [s["metadata"].get("pid") for s in mirror] == [srv.process_id], mirror
        assert mirror[0]["port"] == srv.port, mirror

        gsid = game_session(c, fid, srv, loc, Name="c-sdk")
        assert utilization(c, fid)["ActiveGameSessionCount"] == 1

        ps = c.create_player_sessions(GameSessionId=gsid,
                                      PlayerIds=["alice", "bob"])["PlayerSessions"]
        assert [p["Status"] for p in ps] == ["RESERVED", "RESERVED"], ps
        alice, bob = ps[0]["PlayerSessionId"], ps[1]["PlayerSessionId"]
        assert ps[0]["IpAddress"] == "127.0.0.1" and ps[0]["Port"] == srv.port, ps

        # alice connects with her player session id: accepted, then her lines come back
        pa = Player(ps[0]["IpAddress"], ps[0]["Port"], alice)
        assert pa.hello == "OK " + alice, pa.hello
        for line in ("hello", "second line"):
            pa.send(line)
            assert pa.recv() == line
        assert ps_status(c, alice) == "ACTIVE"
        assert srv.has(r"player_accepted player_session_id=%s " % alice), srv.output()

        # her id a second time: refused by the service, the server hangs up
        again = Player("127.0.0.1", srv.port, alice)
        assert again.hello.startswith("ERR ") and "not RESERVED" in again.hello, again.hello
        assert again.recv() == "", "the server kept a rejected player connected"
        again.close()
        # a made-up id is refused too
        bogus = Player("127.0.0.1", srv.port, "psess-00000000-0000-0000-0000-000000000000")
        assert bogus.hello.startswith("ERR "), bogus.hello
        bogus.close()
        assert ps_status(c, alice) == "ACTIVE"  # still hers, still playing
        pa.send("still here")
        assert pa.recv() == "still here"

        # bob joins too and stays
        pb = Player("127.0.0.1", srv.port, bob)
        assert pb.hello == "OK " + bob, pb.hello
        got = c.describe_game_sessions(GameSessionId=gsid)["GameSessions"][0]
        assert got["CurrentPlayerSessionCount"] == 2, got

        # alice leaves: the example removes her player session
        pa.close()
        wait_until(lambda: ps_status(c, alice) == "COMPLETED", timeout=10,
                   what="alice's player session COMPLETED")
        srv.wait_log(r"player_removed player_session_id=%s reason=disconnected$" % alice)
        assert describe_gs(c, gsid)["CurrentPlayerSessionCount"] == 1
        assert ps_status(c, bob) == "ACTIVE"

        # kill -9: no ProcessEnding; after the reconnect grace (1 s) the process is gone
        assert srv.signal(signal.SIGKILL) == -signal.SIGKILL
        t0 = time.monotonic()
        wait_until(lambda: describe_gs(c, gsid)["Status"] == "TERMINATED", timeout=10,
                   what="the game session TERMINATED after the process was killed")
        got = describe_gs(c, gsid)
        assert "TerminationTime" in got, got
        assert time.monotonic() - t0 >= 0.5, "ended before the reconnect grace"
        assert ps_status(c, bob) == "COMPLETED"
        util = utilization(c, fid)
        assert util["ActiveServerProcessCount"] == 0 and util["ActiveGameSessionCount"] == 0, util
        assert not srv.has(r"level=error"), srv.output()
        pb.close()


def test_echo_server_sigterm_ends_at_once(d):
    with echo_servers():
        loc = "custom-csdk-2"
        c, fid, ep = setup(d, loc, "c-sdk-term")
        srv = start_ready(c, fid, ep)
        gsid = game_session(c, fid, srv, loc)
        ps = c.create_player_session(GameSessionId=gsid, PlayerId="carol")["PlayerSession"]
        pc = Player("127.0.0.1", srv.port, ps["PlayerSessionId"])
        assert pc.hello == "OK " + ps["PlayerSessionId"], pc.hello

        # SIGTERM: the example removes its player, calls ProcessEnding, frees the SDK, exits 0
        rc = srv.signal(signal.SIGTERM)
        assert rc == 0, "echo-server exited %s on SIGTERM" % rc
        assert srv.has(r"shutting_down reason=SIGTERM") and srv.has(r"\bbye$"), srv.output()
        assert srv.has(r"player_removed player_session_id=%s reason=shutdown$"
                       % ps["PlayerSessionId"]), srv.output()
        assert pc.recv() == "", "the player's connection outlived the server"
        pc.close()
        # the service knew before the process exited: no grace, no waiting
        got = describe_gs(c, gsid)
        assert got["Status"] == "TERMINATED" and "TerminationTime" in got, got
        assert ps_status(c, ps["PlayerSessionId"]) == "COMPLETED"
        util = utilization(c, fid)
        assert util["ActiveServerProcessCount"] == 0 and util["ActiveGameSessionCount"] == 0, util
        assert not srv.has(r"level=error"), srv.output()


harness.run()
