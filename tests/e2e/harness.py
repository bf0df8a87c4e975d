"""hangar e2e harness: start the real hangard, drive it with real clients, report per test.

A test file is a list of `def test_x(d)` functions followed by `harness.run()`. The tests of a
file run in source order against one shared daemon `d`, unless a test is decorated with
`@fresh(...)` (its own daemon, started with those Daemon options) or `@no_daemon` (d is None).
Each test prints `ok name` or `FAIL name` with its traceback and the daemon's log tail; the last
line of the output is `E2E-RESULT passed=N failed=N`, which run.py parses. Every daemon started
here is stopped when the file ends, whatever happened, and dies with this process (PDEATHSIG).

Run one file by hand (optionally only the tests whose names contain the given words):
    HANGARD=build/hangard /usr/bin/python3 tests/e2e/03-fleetiq-errors.py [word...]
"""

import configparser
import ctypes
import datetime
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
HANGARD = os.path.abspath(os.environ.get("HANGARD") or os.path.join(REPO, "build", "hangard"))
AWS_CLI = "/usr/bin/aws"
REGION = "us-east-1"
ACCOUNT = "000000000000"
ADMIN_KEY_ID = "AKIAE2EADMIN00000001"
ADMIN_SECRET = "e2eAdminSecret0000000000000000000000000A"
START_DEADLINE_S = 10.0

# The developer's AWS_* / HANGAR_* settings must not leak into clients or daemons.
for _k in list(os.environ):
    if _k.startswith(("AWS_", "HANGAR_")):
        del os.environ[_k]
_HOME = tempfile.mkdtemp(prefix="hangar-e2e-home-")
os.environ["HOME"] = _HOME
os.environ["AWS_CONFIG_FILE"] = os.path.join(_HOME, "no-aws-config")
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(_HOME, "no-aws-credentials")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import boto3  # noqa: E402  (after the environment is scrubbed)
import botocore.auth  # noqa: E402
import botocore.config  # noqa: E402
import botocore.credentials  # noqa: E402
import botocore.exceptions  # noqa: E402
import botocore.session  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402

import glsdk  # noqa: E402,F401  (teaches websocket-client the close codes 1012-1014: see glsdk)

ClientError = botocore.exceptions.ClientError

_BOTOCORE = botocore.session.get_session()  # one loader cache for every client
_TMPDIRS = []
_DAEMONS = []


def _cleanup():
    for dmn in list(_DAEMONS):
        try:
            dmn.stop()
        except Exception:
            pass
    for path in _TMPDIRS + [_HOME]:
        shutil.rmtree(path, ignore_errors=True)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_sigterm)


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1: the daemon gets SIGKILL if this test process dies.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:
        pass


def tmpdir(prefix="hangar-e2e-"):
    path = tempfile.mkdtemp(prefix=prefix)
    _TMPDIRS.append(path)
    return path


def make_cert(prefix="hangar-e2e-tls-"):
    """A throwaway self-signed RSA 2048 certificate and key for 127.0.0.1, made with the openssl
    CLI: (its directory, cert path, key path)."""
    d = tmpdir(prefix)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=hangar-e2e",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "openssl req failed: %s" % p.stderr
    return d, cert, key


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def url_at(port):
    """The http:// URL of a daemon's port on loopback."""
    return "http://127.0.0.1:%d" % port


def client_port(c):
    """The port a boto3 client calls (on a cluster, the node it was handed)."""
    return int(c.meta.endpoint_url.rsplit(":", 1)[1].split("/", 1)[0])


def wait_until(pred, timeout=10.0, interval=0.1, what="condition"):
    """Polls pred() until it returns a truthy value; returns it, or raises AssertionError."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except AssertionError as e:
            last_exc = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (
                timeout, what, (": %s" % last_exc) if last_exc else ""))
        time.sleep(interval)


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception as e:
            raise AssertionError("response body is not JSON (%s): %r" % (e, self.body[:300]))

    def __repr__(self):
        return "<HTTP %d %r %r>" % (self.status, self.headers, self.body[:300])


class _SkewedDatetime(datetime.datetime):
    skew = datetime.timedelta(0)

    @classmethod
    def utcnow(cls):
        return datetime.datetime.utcnow() + cls.skew


def sign(method, url, body, headers, key_id, secret, service="gamelift", skew_s=0):
    """Returns the headers of a SigV4-signed request (botocore's signer; skew_s moves its clock)."""
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    creds = botocore.credentials.Credentials(key_id, secret)
    auth = botocore.auth.SigV4Auth(creds, service, REGION)
    if skew_s:
        _SkewedDatetime.skew = datetime.timedelta(seconds=skew_s)
        shim = types.SimpleNamespace(datetime=_SkewedDatetime)
        with mock.patch.object(botocore.auth, "datetime", shim):
            auth.add_auth(req)
    else:
        auth.add_auth(req)
    return dict(req.prepare().headers)


def aws_error(exc):
    """(code, message, http status) of a botocore ClientError."""
    err = exc.response.get("Error", {})
    status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
    return err.get("Code"), err.get("Message", ""), status


def client_at(url, key_id, secret, validate=True):
    """A boto3 GameLift client of url: no retries, so every error surfaces at once."""
    cfg = botocore.config.Config(retries={"total_max_attempts": 1},
                                 parameter_validation=validate, connect_timeout=5,
                                 read_timeout=20)
    return boto3.Session(botocore_session=_BOTOCORE).client(
        "gamelift", endpoint_url=url, region_name=REGION, aws_access_key_id=key_id,
        aws_secret_access_key=secret, config=cfg)


def expect_error(code, fn, *args, **kwargs):
    """Calls fn, asserts it raises a ClientError with that code; returns (message, status)."""
    try:
        out = fn(*args, **kwargs)
    except ClientError as e:
        got, msg, status = aws_error(e)
        assert got == code, "expected %s, got %s (HTTP %s): %s" % (code, got, status, msg)
        return msg, status
    raise AssertionError("expected %s, call succeeded: %r" % (code, out))


class _Node:
    """One hangard process of a Daemon (a cluster has several): its port, data dir, logs and
    process. Node 1 keeps the Daemon's own paths (tmp/data, tmp/hangard.stdout …); node k > 1
    lives in tmp/nodek/."""

    def __init__(self, tmp, num):
        self.num = num
        self.dir = tmp if num == 1 else os.path.join(tmp, "node%d" % num)
        if num != 1:
            os.mkdir(self.dir)
        self.data = os.path.join(self.dir, "data")
        os.mkdir(self.data)
        self.stdout_path = os.path.join(self.dir, "hangard.stdout")
        self.stderr_path = os.path.join(self.dir, "hangard.stderr")
        self.config_path = None
        self.port = None
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Daemon:
    """One hangard process with its own data dir and port — or, under run.py --cluster N, N
    processes (nodes) sharing the daemon's database: node 1 owns the lease and serves, nodes
    2..N stand by and relay to it.

    admin=True fixes the administrator key through HANGAR_ADMIN_KEY_ID/SECRET; admin=False lets
    the daemon create one (read it back with load_credentials()). listen='arg'|'env'|'config'
    and data='arg'|'env'|'config' choose how those two options reach the daemon; config is extra
    text for the config file (written only when needed); args/env are passed through; wrap is
    argv put before hangard's (it must exec hangard, so the pid stays the daemon's); host is the
    address it listens on (0.0.0.0 to be reached on this machine's other addresses too); nodes
    overrides the number of nodes (default: run.py's --cluster, else 1; a daemon given its own
    --node-id is always one node: the test places its nodes itself).

    Clients reach the nodes in turn: every read of .port (so .url, .client(), .http(), aws_cli,
    the SDK endpoints derived from them …) names the next node's port; .ports lists them all.
    HG_E2E_TURN0=k starts each daemon's turn at node k+1 (to land a test's clients elsewhere).
    """

    def __init__(self, args=(), env=None, admin=True, listen="arg", data="arg", config=None,
                 wrap=(), host="127.0.0.1", nodes=None):
        self.tmp = tmpdir()
        self.args = list(args)
        if PG_URL and "--store" not in self.args:
            self.args += ["--store", pg_database()]
        n = 1 if "--node-id" in self.args else max(1, nodes or CLUSTER)
        assert n == 1 or "--store" in self.args, "a cluster needs the PostgreSQL store"
        self.nodes = [_Node(self.tmp, k + 1) for k in range(n)]
        self.data = self.nodes[0].data
        self.stdout_path = self.nodes[0].stdout_path
        self.stderr_path = self.nodes[0].stderr_path
        self._turn = itertools.count(int(os.environ.get("HG_E2E_TURN0", "0")))
        self.env = dict(env or {})
        self.fixed_admin = admin
        self.listen_via = listen
        self.data_via = data
        self.config_extra = config
        self.wrap = list(wrap)  # argv before hangard's (e.g. nsenter into a mount namespace)
        self.host = host  # the address it listens on (clients reach it on 127.0.0.1)
        self.key_id, self.secret = (ADMIN_KEY_ID, ADMIN_SECRET) if admin else (None, None)
        _DAEMONS.append(self)

    # ---- process control -------------------------------------------------------------------

    @property
    def port(self):
        """The port of the next node in turn (the only one's on a single node)."""
        ports = self.ports
        if len(ports) == 1 or None in ports:
            return ports[0]
        return ports[next(self._turn) % len(ports)]

    @port.setter
    def port(self, value):
        self.nodes[0].port = value

    @property
    def ports(self):
        return [n.port for n in self.nodes]

    @property
    def proc(self):
        """Node 1's process (the one that owns the lease on a cluster)."""
        return self.nodes[0].proc

    @proc.setter
    def proc(self, value):
        self.nodes[0].proc = value

    @property
    def config_path(self):
        return self.nodes[0].config_path

    @property
    def url(self):
        return url_at(self.port)

    def _argv_env(self, node=None):
        node = node or self.nodes[0]
        argv = self.wrap + [HANGARD]
        env = dict(os.environ)
        env.update(self.env)
        listen = "%s:%d" % (self.host, node.port)
        conf = []
        if self.listen_via == "arg":
            argv += ["--listen", listen]
        elif self.listen_via == "env":
            env["HANGAR_LISTEN"] = listen
        else:
            conf.append("listen = %s" % listen)
        if self.data_via == "arg":
            argv += ["--data", node.data]
        elif self.data_via == "env":
            env["HANGAR_DATA"] = node.data
        else:
            conf.append("data = %s" % node.data)
        if conf or self.config_extra:
            node.config_path = os.path.join(node.dir, "hangard.conf")
            with open(node.config_path, "w") as f:
                f.write("# hangard config written by the e2e harness\n")
                f.write("\n".join(conf) + "\n")
                if self.config_extra:
                    f.write(self.config_extra.rstrip("\n") + "\n")
            argv += ["--config", node.config_path]
        argv += self.args
        if len(self.nodes) > 1:
            argv += ["--node-id", "node%d" % node.num]
        if self.fixed_admin:
            env["HANGAR_ADMIN_KEY_ID"] = ADMIN_KEY_ID
            env["HANGAR_ADMIN_SECRET"] = ADMIN_SECRET
        return argv, env

    def start(self, port=None):
        """Starts the daemon (a fixed port when restarting) and waits for /healthz. A cluster
        starts node 1 first (it takes the lease), then the standbys, and waits for /healthz on
        every node (a standby relays it to the owner); given a port (any of its nodes'), every
        node starts again on the port it had."""
        assert not any(n.alive() for n in self.nodes), "daemon already running"
        if port is not None and len(self.nodes) > 1:
            assert port in self.ports, "port %d is none of this cluster's %s" % (port, self.ports)
            fixed = self.ports
        else:
            fixed = [port] + [None] * (len(self.nodes) - 1)
        for node, at in zip(self.nodes, fixed):
            if not self._start_node(node, at):
                self.kill9()
                what = "" if len(self.nodes) == 1 else "node %d of " % node.num
                raise AssertionError(
                    "hangard %sdid not become healthy within %.0fs on port %d (exit %s)\n%s"
                    % (what, START_DEADLINE_S, node.port, node.proc.returncode,
                       self.log_tail(40)))
        return self

    def _start_node(self, node, port):
        attempts = 1 if port else 3
        for attempt in range(attempts):
            node.port = port or free_port()
            argv, env = self._argv_env(node)
            with open(node.stdout_path, "ab") as out, open(node.stderr_path, "ab") as err:
                err.write(("---- start %s (port %d)\n" % (" ".join(argv), node.port)).encode())
                err.flush()
                node.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=err, preexec_fn=_die_with_parent)
            if self._wait_ready(node):
                return True
            if attempt + 1 < attempts and node.proc.returncode is not None:
                continue  # maybe somebody took the port between bind(0) and the daemon's bind
            break
        return False

    def _wait_ready(self, node):
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                return False
            try:
                r = self.http("GET", "/healthz", timeout=1, port=node.port)
                if r.status == 200 and node.proc.poll() is None:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self, timeout=5.0):
        """SIGTERM, wait, then SIGKILL; returns the exit code (negative = killed by signal).
        A cluster stops its standbys first, then node 1; its exit code is the first non-zero
        one among its nodes, else 0."""
        rcs, errors = [], []
        for node in reversed(self.nodes):
            try:
                rcs.append(self._stop_node(node, timeout))
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            raise AssertionError("; ".join(errors))
        if len(rcs) == 1:
            return rcs[0]
        bad = [rc for rc in rcs if rc not in (None, 0)]
        return bad[0] if bad else (0 if 0 in rcs else None)

    def _stop_node(self, node, timeout):
        if node.proc is None or node.proc.poll() is not None:
            return None if node.proc is None else node.proc.returncode
        node.proc.send_signal(signal.SIGTERM)
        try:
            return node.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait()
            what = "" if len(self.nodes) == 1 else " (node %d)" % node.num
            raise AssertionError("hangard%s ignored SIGTERM for %.0fs; killed" % (what, timeout))

    def kill9(self):
        """kill -9 of every node (the standbys first)."""
        for node in reversed(self.nodes):
            if node.alive():
                node.proc.kill()
                node.proc.wait()

    def restart(self, hard=False):
        """Stops the daemon (kill -9 when hard) and starts it again on the same port(s) and data
        (a cluster: node 1 first, so it takes its lease back at once)."""
        if hard:
            self.kill9()
        else:
            rc = self.stop()
            assert rc == 0, "hangard exited %s on SIGTERM\n%s" % (rc, self.log_tail())
        return self.start(port=self.nodes[0].port)

    def alive(self):
        return all(n.alive() for n in self.nodes)

    def exits(self):
        """What ended: '' while every node runs, else e.g. 'exit -9' or 'node 2: exit 1'."""
        out = []
        for n in self.nodes:
            if not n.alive():
                rc = None if n.proc is None else n.proc.returncode
                out.append(("exit %s" % rc) if len(self.nodes) == 1
                           else "node %d: exit %s" % (n.num, rc))
        return ", ".join(out)

    def _node_label(self, node, path):
        name = os.path.basename(path)
        return name if len(self.nodes) == 1 else "node %d (port %s) %s" % (node.num, node.port,
                                                                          name)

    def log_tail(self, n=30):
        out = []
        for node in self.nodes:
            for path in (node.stdout_path, node.stderr_path):
                try:
                    with open(path, "rb") as f:
                        lines = f.read().decode("utf-8", "replace").splitlines()[-n:]
                except OSError:
                    continue
                if lines:
                    out.append("  --- %s (last %d lines)" % (self._node_label(node, path),
                                                            len(lines)))
                    out += ["  | " + ln for ln in lines]
        return "\n".join(out)

    def output(self):
        """Everything the daemon printed (on a cluster: node 1's, then each standby's)."""
        text = ""
        for node in self.nodes:
            if len(self.nodes) > 1:
                text += "---- node %d\n" % node.num
            for path in (node.stdout_path, node.stderr_path):
                try:
                    with open(path, "rb") as f:
                        text += f.read().decode("utf-8", "replace")
                except OSError:
                    pass
        return text

    def load_credentials(self):
        """Reads DIR/credentials (profile [hangar]) and makes it this daemon's admin key."""
        path = os.path.join(self.data, "credentials")
        assert os.path.isfile(path), "no credentials file at %s; data dir has %s" % (
            path, os.listdir(self.data))
        cp = configparser.ConfigParser()
        cp.read(path)
        assert cp.has_section("hangar"), "no [hangar] profile in credentials: %s" % cp.sections()
        self.key_id = cp.get("hangar", "aws_access_key_id", fallback="").strip()
        self.secret = cp.get("hangar", "aws_secret_access_key", fallback="").strip()
        assert self.key_id and self.secret, "credentials file lacks the key id or secret"
        return self.key_id, self.secret

    # ---- clients ---------------------------------------------------------------------------

    def client(self, key_id=None, secret=None, validate=True, port=None):
        """A boto3 GameLift client (of port, else the next node's): no retries, so every error
        surfaces at once."""
        return client_at(url_at(port or self.port), key_id or self.key_id,
                         secret or self.secret, validate)

    def http(self, method, path, body=None, headers=None, timeout=10, port=None):
        """A plain HTTP request on a fresh connection (to port, else the next node's)."""
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Resp(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def raw(self, target, body=b"{}", signed=True, key_id=None, secret=None, skew_s=0,
            headers=None):
        """A GameLift JSON 1.1 request built by hand; target is the op name or None."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        hdrs = {"Content-Type": "application/x-amz-json-1.1"}
        if target is not None:
            hdrs["X-Amz-Target"] = "GameLift." + target
        hdrs.update(headers or {})
        port = self.port  # one node for the signature's Host and the connection
        if signed:
            hdrs = sign("POST", url_at(port) + "/", body, hdrs, key_id or self.key_id,
                        secret or self.secret, "gamelift", skew_s)
        return self.http("POST", "/", body, hdrs, port=port)

    def admin(self, method, path, body=None, key_id=None, secret=None, signed=True):
        """A request to the key-management API, signed for service `hangar`."""
        data = b"" if body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        port = self.port  # one node for the signature's Host and the connection
        if signed:
            hdrs = sign(method, url_at(port) + path, data, hdrs, key_id or self.key_id,
                        secret or self.secret, "hangar")
        return self.http(method, path, data if body is not None else None, hdrs, port=port)

    def create_key(self, name, allow=None, deny=None, policy=None):
        """Creates an access key through POST /v1/keys; returns the response JSON."""
        if policy is None:
            stmts = []
            if allow:
                stmts.append({"Effect": "Allow", "Action": list(allow), "Resource": "*"})
            if deny:
                stmts.append({"Effect": "Deny", "Action": list(deny), "Resource": "*"})
            policy = {"Version": "2012-10-17", "Statement": stmts}
        r = self.admin("POST", "/v1/keys", {"name": name, "policy": policy})
        assert r.status in (200, 201), "POST /v1/keys -> %r" % r
        out = r.json()
        assert out.get("key_id") and out.get("secret"), "POST /v1/keys: no key_id/secret: %r" % out
        return out

    def key_client(self, key, validate=True):
        return self.client(key["key_id"], key["secret"], validate=validate)

    def serving(self):
        """Asserts the daemon is alive and answers /healthz and a signed call."""
        assert self.alive(), "hangard died (%s)\n%s" % (self.exits(), self.log_tail())
        r = self.http("GET", "/healthz")
        assert r.status == 200, "/healthz -> %r" % r
        out = self.client().list_game_server_groups()
        assert isinstance(out.get("GameServerGroups"), list), out


# ---- CLIs -------------------------------------------------------------------------------------

def clean_env(extra=None):
    env = {"PATH": "/usr/bin:/bin", "HOME": tmpdir("hangar-e2e-clihome-"), "LANG": "C.UTF-8"}
    env.update(extra or {})
    return env


def aws_cli(d, *args, key_id=None, secret=None, timeout=60):
    """Runs /usr/bin/aws gamelift ... against d; returns (exit code, JSON or None, stderr)."""
    home = tmpdir("hangar-e2e-clihome-")
    env = clean_env({
        "HOME": home,
        "AWS_ACCESS_KEY_ID": key_id or d.key_id,
        "AWS_SECRET_ACCESS_KEY": secret or d.secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.path.join(home, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"),
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
    })
    argv = [AWS_CLI, "gamelift"] + list(args) + ["--endpoint-url", d.url, "--output", "json",
                                                 "--no-cli-pager"]
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    parsed = None
    if out.strip():
        try:
            parsed = json.loads(out)
        except ValueError:
            raise AssertionError("aws %s printed non-JSON: %r" % (args[0], out[:500]))
    return p.returncode, parsed, p.stderr.decode("utf-8", "replace")


def hangard_cli(*args, env=None, timeout=30):
    """Runs `hangard ARGS` with a scrubbed environment; returns the CompletedProcess (text)."""
    return subprocess.run([HANGARD] + list(args), env=clean_env(env), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


# ---- FleetIQ fixtures --------------------------------------------------------------------------

ROLE_ARN = "arn:aws:iam::%s:role/hangar-e2e" % ACCOUNT


def instance_id(n):
    """A valid GameServerInstanceId (i- and 17 alphanumerics)."""
    return "i-%017x" % n


def group_arn(name):
    return "arn:aws:gamelift:%s:%s:gameservergroup/%s" % (REGION, ACCOUNT, name)


def create_group(c, name, wait=True, **overrides):
    """Creates a game server group with valid defaults and waits until it is ACTIVE."""
    req = {
        "GameServerGroupName": name,
        "RoleArn": ROLE_ARN,
        "MinSize": 1,
        "MaxSize": 4,
        "LaunchTemplate": {"LaunchTemplateName": "hangar-e2e-lt", "Version": "1"},
        "InstanceDefinitions": [{"InstanceType": "c5.large"},
                                {"InstanceType": "c5.xlarge", "WeightedCapacity": "2"}],
    }
    req.update(overrides)
    out = c.create_game_server_group(**req)["GameServerGroup"]
    if wait:
        wait_active(c, name)
    return out


def wait_active(c, name, timeout=10.0):
    def active():
        g = c.describe_game_server_group(GameServerGroupName=name)["GameServerGroup"]
        assert g["Status"] in ("NEW", "ACTIVATING", "ACTIVE"), "group went to %s" % g["Status"]
        return g if g["Status"] == "ACTIVE" else None
    return wait_until(active, timeout, what="group %s to become ACTIVE" % name)


def register(c, group, gs_id, inst=1, **kw):
    return c.register_game_server(GameServerGroupName=group, GameServerId=gs_id,
                                  InstanceId=instance_id(inst), **kw)["GameServer"]


def gs_get(c, group, gid):
    """DescribeGameServer -> the GameServer."""
    return c.describe_game_server(GameServerGroupName=group, GameServerId=gid)["GameServer"]


def gs_update(c, group, gid, **kw):
    """UpdateGameServer -> the GameServer."""
    return c.update_game_server(GameServerGroupName=group, GameServerId=gid, **kw)["GameServer"]


def gs_claim(c, group, **kw):
    """ClaimGameServer -> the GameServer."""
    return c.claim_game_server(GameServerGroupName=group, **kw)["GameServer"]


def gs_ids(c, group, **kw):
    """The GameServerIds of one ListGameServers page, in the order returned."""
    out = c.list_game_servers(GameServerGroupName=group, **kw)["GameServers"]
    return [s["GameServerId"] for s in out]


def group_get(c, name):
    """DescribeGameServerGroup -> the GameServerGroup."""
    return c.describe_game_server_group(GameServerGroupName=name)["GameServerGroup"]


def age_s(ts):
    """Seconds between a boto3 timestamp and now (positive = in the past)."""
    assert isinstance(ts, datetime.datetime), "not a timestamp: %r" % (ts,)
    return time.time() - ts.timestamp()


class EchoServer:
    """A one-line TCP echo game server on 127.0.0.1: answers `echo: <line>` to each connection."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(10)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                f = conn.makefile("rwb")
                line = f.readline()
                f.write(b"echo: " + line)
                f.flush()

    def close(self):
        self.sock.close()


def talk(connection_info, line):
    """Connects to host:port, sends a line, returns the reply line."""
    host, port = connection_info.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        f = s.makefile("rwb")
        f.write(line.encode() + b"\n")
        f.flush()
        return f.readline().decode()


# ---- registry ----------------------------------------------------------------------------------

def fresh(**daemon_opts):
    """Runs the test against its own daemon, started with Daemon(**daemon_opts)."""
    def deco(fn):
        fn.e2e_daemon = daemon_opts
        return fn
    return deco


def no_daemon(fn):
    fn.e2e_daemon = None
    return fn


def embedded_only(fn):
    """The test is about the embedded store (it reads or breaks hangar.db itself): not run when
    the suite runs every daemon on PostgreSQL (run.py --store postgres)."""
    fn.e2e_embedded_only = True
    return fn


def postgres_only(fn):
    """The test needs the suite's PostgreSQL (a daemon of several nodes: run.py --store postgres
    or --cluster): not run on the embedded store."""
    fn.e2e_postgres_only = True
    return fn


def single_node(reason):
    """The test is about one hangard process (it pauses it, reads what only the serving node
    prints …): not run when every daemon is a cluster (run.py --cluster); reason says why."""
    def deco(fn):
        fn.e2e_single_node = reason
        return fn
    return deco


# run.py --store postgres: every Daemon gets a database of its own on this server
PG_URL = os.environ.get("HG_E2E_PG")
# run.py --cluster N: every Daemon is N nodes on its database (1: a single process)
CLUSTER = int(os.environ.get("HG_E2E_CLUSTER") or 1)
_PG_DBS = [0]


class WebhookSink:
    """An HTTP endpoint on loopback that records what is POSTed to it, as (path, Content-Type,
    JSON) — ("bad json", the error, the body) for a body that is not JSON; the first `fail`
    answers are 500 (to see the sender retry). For NotificationTarget URLs."""

    def __init__(self, fail=0):
        import http.server
        sink = self
        self.got, self.fail = [], fail

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if sink.fail > 0:
                    sink.fail -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                try:
                    sink.got.append((self.path, self.headers.get("Content-Type"),
                                     json.loads(body)))
                except ValueError as e:
                    sink.got.append(("bad json", str(e), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()


def store_args(d):
    """How `hangard check` (or migrate) names d's store: its --store URI, else its data dir."""
    if "--store" in d.args:
        return ["--store", d.args[d.args.index("--store") + 1]]
    return ["--data", d.data]


def pg_create_database(server_url, name):
    """A new, empty database `name` (dropped first if it exists) on the PostgreSQL server of
    server_url (a URI naming any database there); its URI."""
    subprocess.check_call(["psql", "-q", "-v", "ON_ERROR_STOP=1", server_url,
                           "-c", "DROP DATABASE IF EXISTS %s" % name,
                           "-c", "CREATE DATABASE %s" % name], stdout=subprocess.DEVNULL,
                          env=dict(os.environ, PGOPTIONS="-c client_min_messages=warning"))
    return server_url.rsplit("/", 1)[0] + "/" + name


def pg_database():
    """A new, empty database on the suite's PostgreSQL; its URI."""
    _PG_DBS[0] += 1
    return pg_create_database(PG_URL, "e2e_%d_%d" % (os.getpid(), _PG_DBS[0]))


def _check_clean_exit(d):
    """SIGTERM must end the daemon with status 0 (a sanitizer report at exit fails it)."""
    rc = d.stop()
    assert rc == 0, "hangard exited %s on SIGTERM\n%s" % (rc, d.log_tail(60))


def run(ns=None):
    ns = ns if ns is not None else sys.modules["__main__"].__dict__
    tests = sorted((v for k, v in ns.items() if k.startswith("test_") and callable(v)),
                   key=lambda f: f.__code__.co_firstlineno)
    only = sys.argv[1:]
    if only:
        tests = [t for t in tests if any(o in t.__name__ for o in only)]
    passed = failed = 0
    shared = None
    shared_error = None
    try:
        for t in tests:
            if PG_URL and getattr(t, "e2e_embedded_only", False):
                print("skip %s (embedded store only)" % t.__name__, flush=True)
                continue
            if not PG_URL and getattr(t, "e2e_postgres_only", False):
                print("skip %s (PostgreSQL store only)" % t.__name__, flush=True)
                continue
            if CLUSTER > 1 and getattr(t, "e2e_single_node", None):
                print("skip %s (single node only: %s)" % (t.__name__, t.e2e_single_node),
                      flush=True)
                continue
            spec = getattr(t, "e2e_daemon", "shared")
            d = None
            t0 = time.monotonic()
            try:
                if spec == "shared":
                    if shared_error:
                        raise AssertionError("shared daemon failed to start: %s" % shared_error)
                    if shared is None or not shared.alive():
                        shared = Daemon()
                        try:
                            shared.start()
                        except AssertionError as e:
                            shared_error = str(e).splitlines()[0]
                            raise
                    d = shared
                elif spec is not None:
                    d = Daemon(**spec)
                    d.start()
                t(d)
                bad = d is not None and [n for n in d.nodes if n.proc is not None
                                         and n.proc.poll() not in (None, 0)]
                if bad:
                    raise AssertionError("hangard exited during the test (%s)" % d.exits())
                if d is not None and d is not shared:
                    _check_clean_exit(d)
                passed += 1
                print("ok   %s (%.2fs)" % (t.__name__, time.monotonic() - t0), flush=True)
            except BaseException as e:
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    print("FAIL %s (interrupted after %.1fs: %r, probably the runner's timeout)"
                          % (t.__name__, time.monotonic() - t0, e), flush=True)
                    if d is not None:
                        print(d.log_tail(), flush=True)
                    raise
                failed += 1
                print("FAIL %s (%.2fs)" % (t.__name__, time.monotonic() - t0), flush=True)
                print("  " + traceback.format_exc().rstrip().replace("\n", "\n  "), flush=True)
                if d is not None:
                    print(d.log_tail(), flush=True)
            finally:
                if d is not None and d is not shared:
                    try:
                        d.stop()
                    except Exception as e:
                        print("  (stopping its daemon: %s)" % e, flush=True)
                    _DAEMONS.remove(d)
        if shared is not None and shared.alive():
            try:
                _check_clean_exit(shared)
            except AssertionError as e:
                failed += 1
                print("FAIL shared daemon shutdown: %s" % e, flush=True)
    finally:
        _cleanup()
    print("E2E-RESULT passed=%d failed=%d" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


# ---- registry: helpers for tests/e2e/05-registry-*.py ------------------------------------------

EXAMPLES = os.path.join(REPO, "examples")


def reg_call(d, method, path, body=None, key=None, signed=True):
    """A /v1 request signed for `hangar` by key (a create_key() answer) or the admin key."""
    kid, sec = (key["key_id"], key["secret"]) if key else (None, None)
    return d.admin(method, path, body, key_id=kid, secret=sec, signed=signed)


def player_call(d, method, path, body=None, token=None, headers=None):
    """A /v1 request as a player (Authorization: Bearer token) or with no credentials at all;
    body is JSON-encoded."""
    hdrs = {"Content-Type": "application/json"}
    if token:
        hdrs["Authorization"] = "Bearer " + token
    hdrs.update(headers or {})
    return d.http(method, path, None if body is None else json.dumps(body).encode(), hdrs)


def device_login(d, device_id, display_name=None):
    """POST /v1/auth/device (the daemon runs with --auth-device 1): its answer, a player with a
    token."""
    body = {"device_id": device_id}
    if display_name is not None:
        body["display_name"] = display_name
    r = player_call(d, "POST", "/v1/auth/device", body)
    assert r.status in (200, 201), r
    return r.json()


def native_error(r, status, code=None):
    """Asserts r is the native error shape {"error": {"code", "message", "request_id"}}."""
    assert r.status == status, "want HTTP %d, got %r" % (status, r)
    err = r.json().get("error")
    assert isinstance(err, dict) and err.get("code"), "not a native error: %r" % r
    assert err.get("message") and err.get("request_id"), "error lacks message/request_id: %r" % r
    if code is not None:
        assert err["code"] == code, "want error code %s, got %r" % (code, err)
    return err


def announce(d, kind="game", address="127.0.0.1", port=7000, key=None, expect=(200, 201),
             **fields):
    """POST /v1/registry/servers; asserts the status is in expect; returns the server."""
    body = dict(kind=kind, address=address, port=port)
    body.update(fields)
    r = reg_call(d, "POST", "/v1/registry/servers", body, key)
    assert r.status in expect, "announce %r -> %r" % (body, r)
    srv = r.json()
    assert srv.get("id", "").startswith("srv-"), "announce answered without an id: %r" % srv
    srv["_status"] = r.status
    return srv


def reg_get(d, sid, key=None):
    """GET /v1/registry/servers/{id} -> the server, or None on 404."""
    r = reg_call(d, "GET", "/v1/registry/servers/" + sid, key=key)
    if r.status == 404:
        native_error(r, 404, "not_found")
        return None
    assert r.status == 200, "GET server %s -> %r" % (sid, r)
    return r.json()


def reg_list(d, key=None, **query):
    """One page of GET /v1/registry/servers?query -> {"items", "next"?}."""
    qs = "&".join("%s=%s" % kv for kv in sorted(query.items()))
    r = reg_call(d, "GET", "/v1/registry/servers" + ("?" + qs if qs else ""), key=key)
    assert r.status == 200, "list %s -> %r" % (qs, r)
    out = r.json()
    assert isinstance(out.get("items"), list), "list without items: %r" % out
    return out


def reg_list_all(d, **query):
    """Every item of GET /v1/registry/servers?query, following `next`."""
    items, after = [], None
    for _ in range(1000):
        q = dict(query)
        if after:
            q["after"] = after
        page = reg_list(d, **q)
        items += page["items"]
        after = page.get("next")
        if not after:
            return items
    raise AssertionError("list pagination did not end")


def signed_get_headers(d, path, key=None, extra=None, port=None):
    """The headers of a signed GET of path, for port (connect to that one), else d.url."""
    kid, sec = (key["key_id"], key["secret"]) if key else (d.key_id, d.secret)
    url = url_at(port) if port else d.url
    return sign("GET", url + path, b"", dict(extra or {}), kid, sec, "hangar")


class EventStream:
    """A subscriber to GET /v1/registry/events over WebSocket (transport='ws') or Server-Sent
    Events ('sse'), read by a background thread. Each event is a dict, plus `_recv` (monotonic
    time of arrival) and for SSE `_sse_id` / `_sse_event`."""

    def __init__(self, d, query="", transport="ws", key=None, headers=None, timeout=5,
                 paused=False, rcvbuf=None, port=None):
        import queue
        self.q = queue.Queue()
        self.transport = transport
        self.events = []  # everything taken from the queue so far, in order
        self.closed = False
        self.error = None
        path = "/v1/registry/events" + ("?" + query if query else "")
        port = port or d.port  # one node for the signature's Host and the connection
        hdrs = signed_get_headers(d, path, key, headers, port=port)
        if transport == "ws":
            import websocket
            want = ("Authorization", "X-Amz-Date") + tuple(headers or ())
            opts = ((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf),) if rcvbuf else ()
            self.ws = websocket.create_connection(
                "ws://127.0.0.1:%d%s" % (port, path), timeout=timeout, sockopt=opts,
                header=["%s: %s" % (k, v) for k, v in hdrs.items() if k in want])
            self.ws.settimeout(None)
            self.sock = self.ws.sock
        else:
            self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            self.conn.request("GET", path, headers=hdrs)
            self.sock = self.conn.sock  # http.client lets go of it once the answer has no length
            self.resp = self.conn.getresponse()
            if self.resp.status != 200:
                body = self.resp.read()
                self.conn.close()
                raise AssertionError("SSE GET %s -> HTTP %d %r" % (path, self.resp.status, body))
            ctype = self.resp.getheader("Content-Type", "")
            assert ctype.startswith("text/event-stream"), "SSE content type %r" % ctype
            self.sock.settimeout(None)
        self.thread = threading.Thread(target=self._read, daemon=True)
        if not paused:
            self.thread.start()

    def resume(self):
        """Starts reading a stream opened with paused=True."""
        self.thread.start()

    def _read(self):
        try:
            if self.transport == "ws":
                while True:
                    msg = self.ws.recv()
                    if not msg:
                        break
                    ev = json.loads(msg)
                    ev["_recv"] = time.monotonic()
                    self.q.put(ev)
            else:
                fields = {}
                while True:
                    line = self.resp.readline()
                    if not line:
                        break
                    line = line.decode("utf-8").rstrip("\r\n")
                    if line == "":
                        if "data" in fields:
                            ev = json.loads(fields["data"])
                            ev["_recv"] = time.monotonic()
                            ev["_sse_id"] = fields.get("id")
                            ev["_sse_event"] = fields.get("event")
                            self.q.put(ev)
                        fields = {}
                    elif not line.startswith(":") and ":" in line:
                        k, v = line.split(":", 1)
                        v = v[1:] if v.startswith(" ") else v
                        fields[k] = fields[k] + "\n" + v if k in fields else v
        except Exception as e:  # closed by us, or by the daemon
            if not self.closed:
                self.error = e
        finally:
            self.q.put(None)

    def next(self, timeout=5.0):
        """The next event, or None when the stream ended; AssertionError on timeout."""
        import queue
        try:
            ev = self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no event within %.1fs on the %s stream (got so far: %s)"
                                 % (timeout, self.transport, brief_events(self.events[-8:])))
        if ev is None:
            self.q.put(None)  # stays ended
            return None
        self.events.append(ev)
        return ev

    def wait_for(self, pred, timeout=5.0, what="event"):
        """Reads until pred(ev); returns that event (the ones before it stay in .events)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out after %.1fs waiting for %s on %s; last: %s" % (
                    timeout, what, self.transport, brief_events(self.events[-8:])))
            try:
                ev = self.next(left)
            except AssertionError:
                continue
            if ev is None:
                raise AssertionError("the %s stream ended (%s) while waiting for %s; last: %s" % (
                    self.transport, self.error, what, brief_events(self.events[-8:])))
            if pred(ev):
                return ev

    def drain(self, quiet=0.5, timeout=10.0):
        """Every event arriving until none came for `quiet` seconds."""
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ev = self.next(quiet)
            except AssertionError:
                break
            if ev is None:
                break
            out.append(ev)
        return out

    def close(self):
        """Drops the connection abruptly (as a crashing gateway would)."""
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        if self.thread.is_alive():
            self.thread.join(5)


def brief_events(evs):
    return ", ".join("%s:%s%s(%s)" % (e.get("seq"), e.get("type"),
                                      "/" + e["reason"] if e.get("reason") else "",
                                      (e.get("server") or {}).get("id", "")) for e in evs)


def for_server(sid, type_=None):
    """An EventStream.wait_for predicate: an event about server sid (of that type)."""
    return lambda ev: ((ev.get("server") or {}).get("id") == sid
                       and (type_ is None or ev.get("type") == type_))


class Proc:
    """A child process (an example program) with its output collected by a thread."""

    def __init__(self, argv, env=None):
        self.lines = []
        self.cond = threading.Condition()
        self.p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, pred, timeout=10.0, what="a line"):
        with self.cond:
            ok = self.cond.wait_for(lambda: any(pred(ln) for ln in self.lines)
                                    or self.p.poll() is not None, timeout)
            for ln in self.lines:
                if pred(ln):
                    return ln
        raise AssertionError("%s: no %s within %.0fs (exit %s); output:\n%s" % (
            os.path.basename(self.p.args[1]), what, timeout, self.p.poll(), self.output()))

    def output(self):
        with self.cond:
            return "\n".join(self.lines)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def example_env(key):
    env = clean_env({"HANGAR_KEY_ID": key["key_id"], "HANGAR_SECRET": key["secret"],
                     "PYTHONUNBUFFERED": "1"})
    return env


def start_gameserver(d, key, capacity=10, *extra):
    """Runs examples/gameserver/gameserver.py; returns (Proc, server id, port)."""
    import re
    p = Proc([sys.executable, os.path.join(EXAMPLES, "gameserver", "gameserver.py"),
              "--endpoint", d.url, "--capacity", str(capacity)] + [str(a) for a in extra],
             env=example_env(key))
    line = p.wait_line(lambda ln: ln.startswith("announced "), 10, "announcement")
    m = re.match(r"announced (srv-[0-9a-f]{16}) on ([^ ]+):(\d+) ", line)
    assert m, "gameserver printed %r" % line
    return p, m.group(1), int(m.group(3))
