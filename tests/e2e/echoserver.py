"""echoserver: examples/echo-server as a real game server process for the e2e tests — built
ONLY against the installed libhangar-server (`cmake --install` of the build dir that holds
$HANGARD, then the example's own Makefile with pkg-config), started with the GAMELIFT_SDK_*
environment of a compute, its log collected.

With an ASan build dir (HG_SANITIZE=ON, `make e2e-asan`) the installed SDK is instrumented, so
the example is compiled and linked with the same sanitizers and compiler."""

import contextlib
import os
import re
import shutil
import subprocess
import threading
import uuid

import harness
from harness import wait_until

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
    """One examples/echo-server process; its output (stderr, where it logs) is collected. env
    adds variables (e.g. BACKFILL_CONFIG_ARN) to its environment."""

    def __init__(self, c, fid, compute, ep, env=None):
        env_extra = dict(env or {})
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
        env.update(env_extra)
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


