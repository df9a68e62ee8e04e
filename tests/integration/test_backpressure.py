"""test_backpressure: a lossless client that stops reading holds its session back instead
of making the daemon buffer without bound: the level shows it, memory stays near one
ring, other sessions keep flowing, and once the client reads again it gets every byte."""

import wire
from harness import Daemon, check, check_eq, rss_kib, wait_for, ptyhub_bin

RING = 1 << 20  # the daemon's default --scrollback
PATTERN = b"y\r\n"  # `yes` through a terminal


def _is_sanitized(path):
    with open(path, "rb") as f:
        return b"AddressSanitizer" in f.read()


def _level(d, sid):
    return next(e["level"] for e in d.ls_json() if e["id"] == sid)


def test_stalled_lossless_client():
    # ASan's shadow memory and quarantine make RSS grow on their own; allow for it there.
    slack_mib = 24 if _is_sanitized(ptyhub_bin()) else 6
    with Daemon() as d:
        probe = d.new("true")
        d.cli("wait", str(probe))
        base = rss_kib(d.pid)

        stalled = d.conn()
        sid = stalled.create(["yes"])
        stalled.attach(sid, mode=wire.MODE_INTERACTIVE, from_kind=wire.FROM_OFFSET, from_=0)
        # ... and now it reads nothing.
        level = wait_for(lambda: (lambda lv: lv if lv in ("heavy", "blocked") else None)(
            _level(d, sid)), "the stalled client's session to reach level heavy or blocked")

        # The session is held back: its output count stops near what the ring (plus the
        # socket buffers) can hold, instead of growing without bound.
        limit_kib = base + RING // 1024 + slack_mib * 1024
        rss = rss_kib(d.pid)
        check(rss < limit_kib, "daemon RSS %d KiB with a stalled client (started at %d KiB, "
              "limit %d KiB)" % (rss, base, limit_kib))

        # Another session keeps flowing meanwhile, seen through the CLI.
        other = d.new("seq", "1", "30000")
        check_eq(d.cli("wait", str(other)).returncode, 0, "the other session's status")
        want = b"".join(b"%d\r\n" % i for i in range(1, 30001))
        check(d.ok("output", str(other)) == want, "the other session's output is complete")
        bytes_held = next(e["bytes_out"] for e in d.ls_json() if e["id"] == sid)
        rss = rss_kib(d.pid)
        check(rss < limit_kib, "daemon RSS %d KiB after the other session (limit %d KiB)"
              % (rss, limit_kib))

        # The stalled client reads again: every byte from 0, contiguous, well past the
        # point where the session was held, so the PTY must have been resumed.
        target = bytes_held + 4 * RING
        pos = 0
        while pos < target:
            m = stalled.recv()
            if m.type == wire.OUTPUT and m.sid == sid:
                check_eq(m.offset, pos, "offset of the next OUTPUT (contiguous)")
                phase = pos % len(PATTERN)
                n = len(m.data)
                expect = (PATTERN * ((n + phase) // len(PATTERN) + 2))[phase:phase + n]
                check(m.data == expect, "bytes at offset %d are `yes` output" % pos)
                pos += n
            elif m.type in (wire.GAP, wire.EXIT, wire.ERROR):
                raise AssertionError("a lossless client got %r" % m)
        check(level in ("heavy", "blocked"), "level was %s" % level)
        stalled.close()
        d.ok("kill", str(sid))
