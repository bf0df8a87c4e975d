"""hangar e2e runner: runs every tests/e2e/NN-*.py in its own process and totals the results.

    HANGARD=build/hangard /usr/bin/python3 tests/e2e/run.py [-j 2] [--timeout 120]
        [--store postgres | --cluster N] [filter...]

--store postgres: every daemon a test starts (harness.Daemon) keeps its state in a database of
its own on one private PostgreSQL server that this runner starts (scripts/pg-local; the tests
marked @harness.embedded_only are skipped). --cluster N (implies --store postgres): every daemon
is N hangard processes on its database: node 1 starts first and owns the lease, nodes 2..N
stand by on ports of their own (--node-id nodeK) and relay to it; the clients the harness hands
out (d.client(), d.url, d.http, aws_cli, WebSocket URLs, the SDK endpoints derived from them …)
reach the nodes in turn, so calls go through the standbys as well as the owner; start, stop,
restart and kill -9 act on every node, and every node must exit 0 on SIGTERM. The tests marked
@harness.single_node(reason) are skipped there.

A file may declare what it needs on a comment line, e.g. `# needs: redis postgres`; files whose
need is missing here are skipped. Each file prints `E2E-RESULT passed=N failed=N` as its last
line (harness.run) and `skip <test> (<why>)` for each test it skipped, which this runner prints
under the file's line; the totals count test functions, not files. The last line printed is
`N passed, N failed` (`, N skipped` when something was skipped); exit status 1 if any failed.
"""

import argparse
import concurrent.futures
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"
RESULT_RE = re.compile(r"^E2E-RESULT passed=(\d+) failed=(\d+)\s*$", re.M)
SKIP_RE = re.compile(r"^skip (test_\w+) \((.*)\)\s*$", re.M)
NEEDS_RE = re.compile(r"^#\s*needs:\s*(.+)$", re.M)
TEST_DEF_RE = re.compile(r"^def (test_\w+)\(", re.M)


def _python_module(name):
    return subprocess.run([PYTHON, "-c", "import " + name], capture_output=True).returncode == 0


NEEDS = {
    "redis": lambda: bool(shutil.which("redis-server")),
    "postgres": lambda: bool(shutil.which("postgres") or shutil.which("pg_ctl")
                             or glob.glob("/usr/lib/postgresql/*/bin/postgres")),
    "websocket": lambda: _python_module("websocket"),
    "aws-cli": lambda: os.access("/usr/bin/aws", os.X_OK),
}


def missing_needs(text):
    missing = []
    for m in NEEDS_RE.finditer(text):
        for need in re.split(r"[\s,]+", m.group(1).strip()):
            need = need.split(":", 1)[-1]  # accept both `redis` and `needs:redis`
            if need and not (need in NEEDS and NEEDS[need]()):
                missing.append(need)
    return missing


def run_file(path, env, timeout):
    t0 = time.monotonic()
    p = subprocess.Popen([PYTHON, path], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    timed_out = False
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                out, _ = p.communicate(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            out = b""
    try:
        os.killpg(p.pid, signal.SIGKILL)  # anything the file left behind (daemons, CLIs)
    except ProcessLookupError:
        pass
    text = out.decode("utf-8", "replace")
    if timed_out:
        text += "\n(timed out after %ds; killed)\n" % timeout
    return p.returncode, text, timed_out, time.monotonic() - t0


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=120, help="seconds per file")
    ap.add_argument("--store", choices=("embedded", "postgres"), default="embedded",
                    help="postgres: every daemon keeps its state in its own database of one "
                         "private PostgreSQL server (scripts/pg-local) instead of SQLite")
    ap.add_argument("--cluster", type=int, default=1, metavar="N",
                    help="every daemon is N nodes sharing its database (implies --store "
                         "postgres): node 1 serves, the others stand by and relay; clients "
                         "reach the nodes in turn")
    ap.add_argument("filters", nargs="*", help="run only files whose name contains one of these")
    opts = ap.parse_args()

    hangard = os.path.abspath(os.environ.get("HANGARD") or os.path.join(REPO, "build", "hangard"))
    if not os.access(hangard, os.X_OK):
        print("warning: %s is not an executable; every test will fail (run `make build`)" % hangard)
    env = dict(os.environ)
    env.update(HANGARD=hangard, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    pg_dir = None
    if opts.cluster > 1:
        opts.store = "postgres"
        env["HG_E2E_CLUSTER"] = str(opts.cluster)
    if opts.store == "postgres":
        pg_dir = tempfile.mkdtemp(prefix="hangar-e2e-suite-pg-")
        os.chmod(pg_dir, 0o755)
        env["HG_E2E_PG"] = subprocess.check_output(
            [os.path.join(REPO, "scripts", "pg-local"), "start", os.path.join(pg_dir, "data"),
             str(_free_port())], text=True).strip()
        print("e2e: every daemon on PostgreSQL (%s)%s" % (
            env["HG_E2E_PG"], ", %d nodes each" % opts.cluster if opts.cluster > 1 else ""),
            flush=True)

    files = sorted(f for f in glob.glob(os.path.join(HERE, "[0-9][0-9]-*.py")))
    if opts.filters:
        files = [f for f in files if any(s in os.path.basename(f) for s in opts.filters)]

    passed = failed = skipped = 0
    todo = []
    for f in files:
        with open(f) as fh:
            text = fh.read()
        ndefs = len(TEST_DEF_RE.findall(text))
        miss = missing_needs(text)
        if miss:
            skipped += ndefs
            print("skip %s (needs %s)" % (os.path.basename(f), ", ".join(miss)), flush=True)
        else:
            todo.append((f, ndefs))

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max(1, opts.jobs)) as pool:
        futs = {pool.submit(run_file, f, env, opts.timeout): (f, n) for f, n in todo}
        for fut in concurrent.futures.as_completed(futs):
            f, ndefs = futs[fut]
            name = os.path.basename(f)
            rc, text, timed_out, secs = fut.result()
            results = RESULT_RE.findall(text)
            if results and not timed_out:
                p, fl = map(int, results[-1])
            else:  # crashed or hung: what did not report ok failed
                p = len(re.findall(r"^ok ", text, re.M))
                fl = max(1, ndefs - p)
            if rc != 0 and fl == 0:
                fl = 1  # exit status and report disagree: count it
            skips = SKIP_RE.findall(text)
            passed += p
            failed += fl
            skipped += len(skips)
            if fl:
                print("FAIL %s (%d passed, %d failed, %.1fs)" % (name, p, fl, secs), flush=True)
                print("  " + text.rstrip().replace("\n", "\n  "), flush=True)
            else:
                print("ok   %s (%d tests, %.1fs)" % (name, p, secs), flush=True)
                for test, why in skips:
                    print("  skip %s (%s)" % (test, why), flush=True)

    if pg_dir:
        subprocess.call([os.path.join(REPO, "scripts", "pg-local"), "stop",
                         os.path.join(pg_dir, "data")])
        shutil.rmtree(pg_dir, ignore_errors=True)
    print("e2e: %.1fs" % (time.monotonic() - t0))
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
