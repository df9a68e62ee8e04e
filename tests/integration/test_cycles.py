"""test_cycles: sessions that come and go leave nothing behind: after 1,000 create/exit
cycles the daemon holds no more fds than before (plus a small constant) and has no
zombie children."""

import wire
from harness import Daemon, check, check_eq, children_of, fd_count, wait_for

CYCLES = 1000


def _zombies(pid):
    return [p for p, state in children_of(pid) if state == "Z"]


def test_1000_create_exit_cycles():
    with Daemon() as d:
        with d.conn() as c:
            # Warm up (first session, lazily opened resources), then measure.
            for _ in range(3):
                _cycle(c, remove=True)
            before = fd_count(d.pid)
            for i in range(CYCLES):
                _cycle(c, remove=i % 2 == 0)  # the rest is left to --keep-exited
            wait_for(lambda: fd_count(d.pid) <= before + 4,
                     "the daemon's fd count to settle near %d (now %d)"
                     % (before, fd_count(d.pid)))
            wait_for(lambda: not _zombies(d.pid), "no zombie children (now %r)"
                     % _zombies(d.pid))
            listed = c.list()
            check(len(listed) <= 256 + 1, "exited sessions listed: %d (--keep-exited 256)"
                  % len(listed))
        # The CLI way, a few times: `new -- true` then `wait`.
        before = fd_count(d.pid)
        for _ in range(20):
            sid = d.new("true")
            check_eq(d.cli("wait", str(sid)).returncode, 0, "status of `true`")
        wait_for(lambda: fd_count(d.pid) <= before + 4,
                 "the daemon's fd count after CLI cycles near %d (now %d)"
                 % (before, fd_count(d.pid)))
        check_eq(_zombies(d.pid), [], "zombie children")


test_1000_create_exit_cycles.timeout = 900


def _cycle(c, remove):
    """CREATE `true`, wait for its EXIT (attached at the live edge), optionally REMOVE."""
    sid = c.create(["true"])
    c.attach(sid, mode=wire.MODE_READ_ONLY, from_kind=wire.FROM_LIVE)
    m = c.recv_until(lambda m: m.type == wire.EXIT and m.sid == sid
                     or m.type == wire.ERROR)
    check(m.type == wire.EXIT and (m.code, m.signal) == (0, 0), "exit of `true`: %r" % m)
    if remove:
        r = c.call(lambda req: wire.remove(req, sid), wire.OK)
        check(r.type == wire.OK, "REMOVE of an exited session: %r" % r)
