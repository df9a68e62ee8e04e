"""The scheduler's classes: a session that floods output is bulk, one typed into is
interactive (in every mode: REST and /metrics show it); with --sched interactive a bulk
session's processes get a low CPU weight (their autogroup's nice value) and it still
makes progress (the default); --sched fifo changes no weight. Behaviour only: the
latency numbers are in `make bench BENCH=latency`."""

import os
import subprocess
import time

import wire
import wsclient
from harness import Daemon, Skip, check, check_eq, wait_for, TIMEOUT


def _session(d, sid):
    r = wsclient.get(d, "/api/sessions/%d" % sid)
    check_eq(r.status, 200, "GET /api/sessions/%d" % sid)
    return r.json()


def _autogroup_nice(pid):
    try:
        with open("/proc/%d/autogroup" % pid) as f:
            return int(f.read().split("nice")[1])
    except (OSError, IndexError, ValueError):
        return None


def _metric(d, name):
    text = wsclient.get(d, "/metrics").body.decode()
    return [l for l in text.splitlines() if l.startswith(name)]


def test_flood_is_bulk_typing_is_interactive():
    with Daemon("--sched", "interactive") as d:
        flood = d.new("yes")
        probe = d.new("cat")
        wait_for(lambda: _session(d, flood)["class"] == "bulk", "the flood to be bulk")
        check_eq(_session(d, probe)["class"], "interactive", "an idle cat's class")
        before = _session(d, flood)["bytes_out"]
        time.sleep(0.5)
        check(_session(d, flood)["bytes_out"] > before, "a bulk session still makes progress")
        nice = _autogroup_nice(_session(d, flood)["pid"])
        if nice is not None:
            check_eq(nice, 19, "a bulk session's autogroup nice")
            check_eq(_autogroup_nice(_session(d, probe)["pid"]), 0, "an interactive one's")
        check(any(l.endswith(" 1") for l in
                  _metric(d, 'ptyhub_sessions_by_class{class="bulk"}')),
              "/metrics counts one bulk session: %r" % _metric(d, "ptyhub_sessions_by_class"))
        # Typing into the flood makes it interactive at once (Ctrl-C must not wait).
        d.ok("send", str(flood), "x")
        check_eq(_session(d, flood)["class"], "interactive", "a flood just typed into")
        if nice is not None:
            check_eq(_autogroup_nice(_session(d, flood)["pid"]), 0,
                     "its weight is back to normal")


def test_sched_fifo_changes_no_weight():
    if not os.path.exists("/proc/self/autogroup"):
        raise Skip("this kernel has no autogroups")
    with Daemon("--sched", "fifo") as d:
        flood = d.new("yes")
        wait_for(lambda: _session(d, flood)["class"] == "bulk", "the flood to be bulk")
        check_eq(_autogroup_nice(_session(d, flood)["pid"]), 0,
                 "--sched fifo leaves a bulk session's weight alone")


def _slice_ns(tid_path):
    """se.slice from /proc/.../sched (Linux 6.6+), or None when the kernel has none."""
    try:
        with open(tid_path) as f:
            for line in f:
                if line.startswith("se.slice"):
                    return int(line.split(":")[1])
    except (OSError, ValueError):
        pass
    return None


def _counter(d, name):
    """The value of a metric line without labels (or with), summed."""
    return sum(float(l.split()[-1]) for l in _metric(d, name))


def test_short_slices_for_reactors_and_interactive_programs():
    default = _slice_ns("/proc/self/sched")
    if default is None:
        raise Skip("this kernel shows no se.slice")
    with Daemon("--sched", "interactive", "--latency-slice", "200") as d:
        # Every reactor thread asks for 200 µs as it starts (the main thread is reactor 0).
        wait_for(lambda: all(_slice_ns("/proc/%d/task/%s/sched" % (d.pid, tid)) == 200000
                             for tid in os.listdir("/proc/%d/task" % d.pid)),
                 "every daemon thread to run with a 200 us slice")
        probe = d.new("cat")
        flood = d.new("yes")
        pid = _session(d, probe)["pid"]
        check_eq(_slice_ns("/proc/%d/sched" % pid), 200000, "an interactive program's slice")
        wait_for(lambda: _session(d, flood)["class"] == "bulk", "the flood to be bulk")
        fpid = _session(d, flood)["pid"]
        wait_for(lambda: _slice_ns("/proc/%d/sched" % fpid) != 200000,
                 "a bulk program's slice to go back to the default")
    with Daemon("--sched", "interactive", "--latency-slice", "0") as d:
        pid = _session(d, d.new("cat"))["pid"]
        check(_slice_ns("/proc/%d/sched" % pid) != 200000 and
              _slice_ns("/proc/%d/sched" % d.pid) == default,
              "--latency-slice 0 leaves the kernel's default")


def test_scheduler_options_are_validated():
    with Daemon() as d:
        for bad in (["--latency-slice", "5"], ["--render-hold", "1K"], ["--render-hold", "x"],
                    ["--bulk-read", "all"], ["--dispatch", "lifo"], ["--bulk-flush", "200000"],
                    ["--bulk-flush", "-1"]):
            p = subprocess.run([d.bin, "serve", "--socket", d.sock + "2", *bad],
                               capture_output=True, timeout=TIMEOUT)
            check_eq(p.returncode, 2, "`serve %s` status" % " ".join(bad))
            check(bad[0].encode() in p.stderr, "the error names %s: %r" % (bad[0], p.stderr))


def test_bulk_readiness_waits_for_interactive_work():
    """One reactor thread, a flood and a cat typed into: the flood's readiness events are
    run after the turn's other work (counted) and the flood still progresses and is read
    whole; with --dispatch arrival nothing is deferred."""
    for mode, expect in (("interactive", True), ("arrival", False)):
        with Daemon("--threads", "1", "--dispatch", mode) as d:
            flood = d.new("yes")
            probe = d.new("cat")
            wait_for(lambda: _session(d, flood)["class"] == "bulk", "the flood to be bulk")
            before = _counter(d, "ptyhub_reactor_bulk_deferred_total")
            out0 = _session(d, flood)["bytes_out"]
            deadline = time.monotonic() + (TIMEOUT if expect else 2)
            while time.monotonic() < deadline:
                d.ok("send", str(probe), "x")
                if expect and _counter(d, "ptyhub_reactor_bulk_deferred_total") > before:
                    break
            after = _counter(d, "ptyhub_reactor_bulk_deferred_total")
            if expect:
                check(after > before, "bulk readiness deferred behind typing")
            else:
                check_eq(after, before, "nothing deferred with --dispatch arrival")
            # The scheduler's deferrals are the reactors' deferred bulk events (read later,
            # so at least as many; none at all in arrival order).
            sched = _counter(d, "ptyhub_sched_deferrals_total")
            if expect:
                check(sched >= after, "ptyhub_sched_deferrals_total %r >= %r" % (sched, after))
            else:
                check_eq(sched, 0, "ptyhub_sched_deferrals_total in arrival order")
            check(_session(d, flood)["bytes_out"] > out0, "the bulk session progressed")


def test_batched_bulk_output_arrives_whole_and_in_order():
    """A bulk session's output is told to its clients in batches (--bulk-flush, on by
    default): a lossless client (interactive attach) still gets every byte once, at
    contiguous offsets, up to the exit, with a long batch interval as with none."""
    n = 1500000  # about 10 MiB: it runs for more than one classification window
    want = "".join("%d\n" % i for i in range(1, n + 1)).encode()
    for flush in ("100000", "0"):
        with Daemon("--bulk-flush", flush) as d:
            # It starts when told through a FIFO: input would make it interactive.
            go = os.path.join(d.dir, "go-%s" % flush)
            os.mkfifo(go)
            sid = d.new("sh", "-c", "stty raw -echo; read x < %s; seq 1 %d" % (go, n))
            with d.conn() as c:
                c.attach(sid, mode=wire.MODE_INTERACTIVE, from_kind=wire.FROM_OFFSET, from_=0)
                with open(go, "w") as f:
                    f.write("go\n")
                got = bytearray()
                while True:
                    m = c.recv(timeout=TIMEOUT)
                    if m.type == wire.OUTPUT and m.sid == sid:
                        check_eq(m.offset, len(got), "offset of the next OUTPUT (contiguous)")
                        got += m.data
                    elif m.type == wire.GAP:
                        raise AssertionError("a lossless client got a GAP: %r" % m)
                    elif m.type == wire.EXIT and m.sid == sid:
                        break
            check_eq(len(got), len(want), "bytes received with --bulk-flush %s" % flush)
            check(bytes(got) == want, "every byte once and in order with --bulk-flush %s" % flush)
            check(_counter(d, 'ptyhub_sched_read_bytes_total{class="bulk"}') > 0,
                  "the session was read as bulk (batched) for part of its output")
