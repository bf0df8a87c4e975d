"""01 a full disk (issue: memory never shows what the disk refused). The data directory is a
small tmpfs in a mount namespace of its own (unshare; hangard runs in it through nsenter); the
test fills it through /proc/<pid>/root. Writes are answered with errors; nothing is listed,
described or published that is not durable; event sequence numbers never repeat, across the
in-process rebuild and a restart; everything acknowledged before is still there, and writes work
again once there is room. Needs root (mount namespaces), as CI has."""

import errno
import os
import subprocess
import time

import botocore.exceptions

import harness
from harness import EventStream, announce, no_daemon, reg_call, wait_until

TMPFS_MB = 16
# hangard was rebuilding its memory: no connection, or one closed before the answer
NO_ANSWER = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError, OSError)


class Namespace:
    """A mount namespace holding a tmpfs on `path`, kept by a sleeping process."""

    def __init__(self, path, size_mb):
        self.path = path
        self.p = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'mount -t tmpfs -o size=%dm tmpfs "$1" && echo mounted && exec sleep 100000'
             % size_mb, "sh", path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=harness._die_with_parent)
        line = self.p.stdout.readline().decode().strip()
        assert line == "mounted", "cannot mount a tmpfs in a mount namespace (root needed): %s" % (
            self.p.stderr.read().decode() if self.p.poll() is not None else line)

    def wrap(self):
        return ["nsenter", "--target", str(self.p.pid), "--mount", "--"]

    def inside(self, name):
        return "/proc/%d/root%s/%s" % (self.p.pid, self.path, name)

    def fill(self):
        """Writes files until the tmpfs is full, to the last page."""
        for name, chunk in (("filler", 1 << 16), ("filler2", 512)):
            fd = os.open(self.inside(name), os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
            finally:
                os.close(fd)

    def free(self):
        for name in ("filler", "filler2"):
            try:
                os.unlink(self.inside(name))
            except FileNotFoundError:
                pass

    def close(self):
        self.p.kill()
        self.p.wait()


def locations(c):
    return {loc["LocationName"] for loc in c.list_locations()["Locations"]
            if loc["LocationName"].startswith("custom-")}


def attempt(fn):
    """A write while the disk is full: 'failed' (an error answer), 'refused' (hangard was
    restarting: no connection, or the connection closed unanswered), or 'ok' (durable)."""
    try:
        fn()
        return "ok"
    except botocore.exceptions.ClientError as e:
        code, _, status = harness.aws_error(e)
        assert (code, status) in (("InternalServiceException", 500),
                                  ("ServiceUnavailableException", 503)), (code, status)
        return "failed"
    except NO_ANSWER:
        return "refused"


def when_serving(fn, timeout=15.0):
    """fn() once hangard answers again (it may be rebuilding its memory)."""
    def once():
        try:
            return (fn(),)
        except NO_ANSWER:
            return None
        except botocore.exceptions.ClientError as e:
            if harness.aws_error(e)[2] == 503:
                return None
            raise
    return wait_until(once, timeout=timeout, what="hangard serving")[0]


class Subscriber:
    """Every registry event, across the stream's ends (each restart closes it): resumes with
    after=<last seq> and keeps all it received."""

    def __init__(self, d):
        self.d = d
        self.earlier = []  # the events of streams that ended
        self.stream = EventStream(d)

    @property
    def seen(self):
        return self.earlier + self.stream.events

    def collect(self, quiet=0.5):
        self.stream.drain(quiet=quiet, timeout=10)

    def resume(self):
        """Collects what the ended stream had, then subscribes again after the last seq."""
        self.collect(quiet=0.2)
        after = max([e["seq"] for e in self.seen if e.get("seq")] or [0])
        self.stream.close()
        self.earlier += self.stream.events

        def sub():
            try:
                return EventStream(self.d, query="after=%d" % after)
            except Exception:
                return None
        self.stream = wait_until(sub, timeout=15, what="the event stream back")

    def seqs(self):
        return [e["seq"] for e in self.seen if e.get("type") != "snapshot"]


@harness.embedded_only  # reads or breaks hangar.db itself
@no_daemon
def test_full_disk_shows_nothing_that_is_not_durable(_):
    if os.geteuid() != 0:
        print("skip: mount namespaces need root", flush=True)
        return
    d = harness.Daemon()
    ns = Namespace(d.data, TMPFS_MB)
    try:
        d.wrap = ns.wrap()
        d.start()
        c = d.client()
        c.create_location(LocationName="custom-before")
        harness.create_group(c, "disk-group")
        sub = Subscriber(d)
        kept = announce(d, "disk", "10.9.0.1", 7001, name="kept", lease_s=600)
        sub.stream.wait_for(harness.for_server(kept["id"], "server.up"))

        ns.fill()
        outcomes = []
        for i in range(4):
            outcomes.append(attempt(lambda: c.create_location(LocationName="custom-lost-%d" % i)))
            outcomes.append(attempt(lambda: harness.register(c, "disk-group", "gs-lost")))
            r = None
            try:
                r = reg_call(d, "POST", "/v1/registry/servers",
                             {"kind": "disk", "address": "10.9.1.%d" % i, "port": 7001,
                              "name": "lost-%d" % i, "lease_s": 600})
            except OSError:
                pass
            if r is not None:
                assert r.status in (500, 503), r
            time.sleep(0.2)
        assert "ok" not in outcomes, outcomes
        assert "failed" in outcomes, outcomes  # at least one was answered, not just refused
        # while the disk is still full: what failed is nowhere to be seen
        got = when_serving(lambda: locations(c))
        assert got == {"custom-before"}, got
        servers = when_serving(lambda: harness.reg_list_all(d, kind="disk"))
        assert [s["id"] for s in servers] == [kept["id"]], servers
        # a failed RegisterGameServer is not describable (and a retry will not conflict)
        when_serving(lambda: harness.expect_error(
            "NotFoundException", c.describe_game_server, GameServerGroupName="disk-group",
            GameServerId="gs-lost"))
        out = d.output()
        assert "store failure" in out, d.log_tail()

        ns.free()
        when_serving(lambda: c.create_location(LocationName="custom-after"))
        harness.register(c, "disk-group", "gs-lost")  # the retry: registered, no conflict
        sub.resume()
        fresh = announce(d, "disk", "10.9.0.2", 7001, name="fresh", lease_s=600)
        sub.stream.wait_for(harness.for_server(fresh["id"], "server.up"), timeout=10)
        assert locations(c) == {"custom-before", "custom-after"}, locations(c)

        # a restart of the process: the same, and numbering goes on upwards
        d.restart()
        c = d.client()
        sub.resume()
        later = announce(d, "disk", "10.9.0.3", 7001, name="later", lease_s=600)
        sub.stream.wait_for(harness.for_server(later["id"], "server.up"), timeout=10)
        sub.collect()
        assert locations(c) == {"custom-before", "custom-after"}, locations(c)
        names = sorted(s["name"] for s in harness.reg_list_all(d, kind="disk"))
        assert names == ["fresh", "kept", "later"], names

        seqs = sub.seqs()
        assert len(seqs) >= 3, sub.seen  # kept, fresh, later at least
        assert seqs == sorted(set(seqs)), "event numbers repeated or went back: %s" % seqs
        lost = [e for e in sub.seen if (e.get("server") or {}).get("name", "").startswith("lost")]
        assert not lost, "events of failed announces were published: %s" % lost
        sub.stream.close()
    finally:
        try:
            d.stop()
        finally:
            ns.close()


harness.run()
