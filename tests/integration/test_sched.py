"""The scheduler's classes: a session that floods output is bulk, one typed into is
interactive (in every mode: REST and /metrics show it); with --sched interactive a bulk
session's processes get a low CPU weight (their autogroup's nice value) and it still
makes progress (the default); --sched fifo changes no weight. Behaviour only: the
latency numbers are in `make bench BENCH=latency`."""

import os
import time

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
