"""01 every start-up failure exits 1 with one clear line on stderr: never an abort, a hang or a
sanitizer report (this file runs against the ASan daemon in `make test`). Options are checked
whole before anything starts; failures after the store, the domain and the HTTP server were set
up (a port in use, a certificate that does not load) unwind them cleanly."""

import os
import socket
import subprocess

import harness
from harness import no_daemon


def daemon_env(extra=None):
    """A clean environment that keeps the sanitizers' settings (make e2e-asan sets them)."""
    env = {k: v for k, v in os.environ.items() if k in ("ASAN_OPTIONS", "UBSAN_OPTIONS")}
    env.update(extra or {})
    return harness.clean_env(env)


def start_fails(args=(), env=None, wrap=(), want=None):
    """Runs hangard with a fresh data dir; asserts exit 1, one 'hangard: ...' line naming
    `want`, and nothing a crash or a sanitizer would print. Returns that line."""
    data = os.path.join(harness.tmpdir(), "data")
    argv = list(wrap) + [harness.HANGARD, "--listen", "127.0.0.1:%d" % harness.free_port(),
                         "--data", data] + list(args)
    p = subprocess.run(argv, env=daemon_env(env), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    err = p.stderr
    assert p.returncode == 1, "exit %s (want 1) for %s\n%s" % (p.returncode, argv, err)
    for bad in ("Assertion", "AddressSanitizer", "LeakSanitizer", "runtime error", "Aborted"):
        assert bad not in err, "%s in the output of %s:\n%s" % (bad, argv, err)
    lines = [ln for ln in err.splitlines() if ln.startswith("hangard: ")]
    assert len(lines) == 1, "want one 'hangard:' line, got %r\n%s" % (lines, err)
    if want:
        assert want in lines[0], "want %r in %r" % (want, lines[0])
    return lines[0]


@no_daemon
def test_admin_key_outside_its_documented_lengths(_):
    start_fails(env={"HANGAR_ADMIN_KEY_ID": "AB", "HANGAR_ADMIN_SECRET": "secret-ok-123"},
                want="admin-key-id: 2 characters; it must be 4..20")
    start_fails(env={"HANGAR_ADMIN_KEY_ID": "AKIATEST", "HANGAR_ADMIN_SECRET": "short"},
                want="admin-secret: 5 characters; it must be 8..40")
    start_fails(args=["--admin-key-id", "AKIATEST"], want="admin-key-id and admin-secret go "
                "together")


@no_daemon
def test_port_in_use(_):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        start_fails(args=["--listen", "127.0.0.1:%d" % port], want="address already in use")


@no_daemon
def test_tls_files(_):
    start_fails(args=["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/k.pem"],
                want="tls-cert /nonexistent/cert.pem: No such file or directory")
    start_fails(args=["--tls-cert", "/nonexistent/cert.pem"], want="tls-cert and tls-key go")
    junk = os.path.join(harness.tmpdir(), "junk.pem")
    with open(junk, "w") as f:
        f.write("not a certificate\n")
    # readable, so it fails later: once the store and the domain are up
    start_fails(args=["--tls-cert", junk, "--tls-key", junk], want="cannot load the certificate")


@no_daemon
def test_bad_option_values(_):
    start_fails(args=["--listen", "localhost"], want="listen: 'localhost' is not host:port")
    start_fails(args=["--log-level", "loud"], want="log-level")
    start_fails(args=["--http-max-body", "12"], want="http-max-body: 12 is outside")
    start_fails(args=["--sdk-endpoint", "http://x/sdk"], want="sdk-endpoint")


@no_daemon
def test_read_only_data_directory(_):
    if os.geteuid() != 0:
        print("skip: a read-only mount needs root", flush=True)
        return
    ro = harness.tmpdir()
    with open(os.path.join(ro, "placeholder"), "w"):
        pass
    # a read-only bind mount of the directory, in a mount namespace of its own
    wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"',
            "sh", ro]
    data = os.path.join(ro, "data")
    os.mkdir(data)
    p = subprocess.run(wrap + [harness.HANGARD, "--listen", "127.0.0.1:%d" % harness.free_port(),
                               "--data", data], env=daemon_env(),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("hangard: ")]
    assert lines == ["hangard: data directory %s is on a read-only file system" % data], p.stderr
    # a new data directory under a read-only one
    p = subprocess.run(wrap + [harness.HANGARD, "--listen", "127.0.0.1:%d" % harness.free_port(),
                               "--data", os.path.join(ro, "new")], env=daemon_env(),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "Read-only file system" in p.stderr, p.stderr


harness.run()
