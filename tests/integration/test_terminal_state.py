"""Terminal state (on by default): the daemon answers a program's terminal queries itself,
exactly once, whoever is attached.

- No client attached: a program that asks where its cursor is (ESC[6n), what the terminal
  is (DA1) or its background colour (OSC 11) gets the answer from the daemon's own screen
  instead of hanging (what CLI agents do when nobody answers).
- One or two interactive clients attached whose terminals answer too (simulated here: a
  client sends the reply as INPUT when it sees the query, as xterm.js or a real terminal
  would): exactly one reply reaches the program; the terminals' replies are dropped.
- Bad input with state on: malformed and unterminated sequences, a huge OSC, absurd
  parameters, invalid UTF-8, resizes to 1x1 and 10000x10000: the session keeps working and
  the daemon's memory stays bounded."""

import json
import urllib.request

import wire
from harness import Daemon, TIMEOUT, check, check_eq, rss_kib, wait_for

# Writes `ab`, asks one question, reads the reply up to its last byte (with a timeout),
# and prints it: the test reads that from the session's output.
ASK = r"""
import os, select, sys, tty
tty.setraw(0)
q, last = sys.argv[1].encode().decode("unicode_escape").encode("latin-1"), sys.argv[2].encode()
os.write(1, b"ab" + q)
got = b""
while not got.endswith(last):
    r, _, _ = select.select([0], [], [], 10)
    if not r:
        break
    got += os.read(0, 64)
os.write(1, b"\r\nREPLY=" + repr(got).encode() + b"\r\n")
"""

# Waits for a 'g' (the clients are attached), writes `ab` and a query, then reads its input
# until it has one 'Z' per client: each simulated terminal sends its reply before its Z,
# so by then every reply that was going to arrive has arrived. Prints all it read.
ASK_WITH_CLIENTS = r"""
import os, sys, termios, tty
tty.setraw(0, termios.TCSANOW)  # not TCSAFLUSH: keep input that arrived before
q = sys.argv[1].encode().decode("unicode_escape").encode("latin-1")
n = int(sys.argv[2])
while os.read(0, 1) != b"g":
    pass
os.write(1, b"\x1b[H\x1b[2Jab" + q)  # home first: the 'g' may have been echoed
got = b""
while got.count(b"Z") < n:
    got += os.read(0, 256)
os.write(1, b"\r\nGOT=" + repr(got).encode() + b"\r\n")
"""


def _unescape(s):
    return s.encode().decode("unicode_escape").encode("latin-1")


def _ask(d, query, last):
    sid = d.new("python3", "-c", ASK, query, last)
    check_eq(d.cli("wait", str(sid), timeout=TIMEOUT).returncode, 0, "the asking program")
    out = d.ok("output", str(sid))
    line = [l for l in out.split(b"\r\n") if l.startswith(b"REPLY=")]
    check(line, "the program printed its reply: %r" % out)
    return line[0][len("REPLY="):]


def test_queries_answered_with_no_client_attached():
    with Daemon() as d:  # on by default
        check_eq(_ask(d, r"\x1b[6n", "R"), repr(b"\x1b[1;3R").encode(),
                 "CPR: row 1, column 3 after 'ab'")
        check_eq(_ask(d, r"\x1b[c", "c"), repr(b"\x1b[?62;22c").encode(), "DA1")
        check_eq(_ask(d, r"\x1b]11;?\x07", "\x07"),
                 repr(b"\x1b]11;rgb:0000/0000/0000\x07").encode(), "OSC 11 background")


def test_terminal_state_off_leaves_queries_unanswered():
    with Daemon("--terminal-state", "off") as d:
        check_eq(_ask(d, r"\x1b[6n", "R"), repr(b"").encode(),
                 "no answer without terminal state and without a client")


def _with_answering_clients(d, query, reply, nclients):
    """Runs ASK_WITH_CLIENTS with nclients interactive clients whose 'terminals' answer the
    query with `reply`; returns what the program read (the Z markers removed)."""
    q = _unescape(query)
    conns = [d.conn() for _ in range(nclients)]
    try:
        sid = conns[0].create(["python3", "-c", ASK_WITH_CLIENTS, query, str(nclients)])
        for c in conns:
            c.attach(sid)
        conns[0].send(wire.input_(sid, b"g"))
        for i, c in enumerate(conns):
            seen = b""
            while q not in seen:
                m = c.recv_until(lambda m: m.type == wire.OUTPUT, TIMEOUT)
                seen += m.data
            if i % 2 == 0:
                # The terminal's reply and the next keystroke in separate chunks...
                c.send(wire.input_(sid, reply))
                c.send(wire.input_(sid, b"Z"))
            else:
                # ... or in one (the reply is a clean prefix of the chunk).
                c.send(wire.input_(sid, reply + b"Z"))
        check_eq(d.cli("wait", str(sid), timeout=TIMEOUT).returncode, 0, "the asking program")
    finally:
        for c in conns:
            c.close()
    out = d.ok("output", str(sid))
    line = [l for l in out.split(b"\r\n") if l.startswith(b"GOT=")]
    check(line, "the program printed what it read: %r" % out)
    got = eval(line[0][len("GOT="):])  # a bytes repr the program printed
    check_eq(got.count(b"Z"), nclients, "every client's keystroke arrived")
    return got.replace(b"Z", b"")


def test_exactly_one_reply_with_clients_that_answer_too():
    cases = [
        (r"\x1b[6n", b"\x1b[7;9R", b"\x1b[1;3R"),
        (r"\x1b[c", b"\x1b[?1;2c", b"\x1b[?62;22c"),
        (r"\x1b]11;?\x1b\\", b"\x1b]11;rgb:ffff/ffff/ffff\x1b\\",
         b"\x1b]11;rgb:0000/0000/0000\x1b\\"),
    ]
    with Daemon() as d:
        for nclients in (1, 2):
            for query, terminal_reply, daemon_reply in cases:
                got = _with_answering_clients(d, query, terminal_reply, nclients)
                check_eq(got, daemon_reply,
                         "%d client(s), query %s: only the daemon's reply" % (nclients, query))


# Reads its input until a 'Z' and prints it: what a client typed, unfiltered.
ECHO_INPUT = r"""
import os, termios, tty
tty.setraw(0, termios.TCSANOW)  # not TCSAFLUSH: keep input that arrived before
got = b""
while b"Z" not in got:
    got += os.read(0, 256)
os.write(1, b"GOT=" + repr(got).encode() + b"\r\n")
"""


def test_reply_lookalike_without_a_query_reaches_the_program():
    # Nothing was asked: input that looks like a reply is the user's, and is kept.
    with Daemon() as d, d.conn() as c:
        sid = c.create(["python3", "-c", ECHO_INPUT])
        c.attach(sid)
        c.send(wire.input_(sid, b"\x1b[1;3R"))
        c.send(wire.input_(sid, b"Z"))
        check_eq(d.cli("wait", str(sid), timeout=TIMEOUT).returncode, 0, "the program")
        out = d.ok("output", str(sid))
        check(b"GOT=" + repr(b"\x1b[1;3RZ").encode() in out, "the input arrived whole: %r" % out)


# A program writing hostile output, then proving it still works by printing a marker.
HOSTILE = r"""
import os, sys
w = lambda b: os.write(1, b)
w(b"\x1b[" + b"9" * 5000 + b";" * 5000 + b"m")          # absurd CSI parameters
w(b"\x1b]2;" + b"T" * (4 << 20) + b"\x07")               # a 4 MiB title
w(b"\x1b]0;never terminated " + b"x" * (1 << 20))        # an unterminated OSC...
w(b"\x18")                                               # ...cancelled by CAN
w(b"\x1bP" + b"q" * (1 << 20))                           # an unterminated DCS
w(b"\x1b\\")
w(bytes(range(256)) * 64)                                # every byte, invalid UTF-8
w(b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc\xf8\xa1\xa1\xa1\xa1")
w(b"\x1b[99999;99999H\x1b[99999@\x1b[99999b\x1b[?99999h\x1b[99999T")
w(b"\x1b[" + b"1;" * 100000 + b"4" + b"0" * 10000 + b"m")
w(b"\x1b[0m\x1bc\r\nSTILL-ALIVE\r\n")
sys.stdin.read(1)
"""


def test_bad_output_and_extreme_resizes_keep_the_session_working():
    with Daemon() as d, d.conn() as c:
        sid = c.create(["python3", "-c", HOSTILE])
        c.attach(sid)
        seen = b""
        while b"STILL-ALIVE" not in seen:
            m = c.recv_until(lambda m: m.type == wire.OUTPUT, TIMEOUT)
            seen = seen[-64:] + m.data
        rss0 = rss_kib(d.pid)
        for cols, rows in ((1, 1), (10000, 10000), (1, 10000), (10000, 1), (80, 24)):
            c.send(wire.resize(sid, cols, rows))
            c.send(wire.input_(sid, b"\x1b[6n"))  # the echo of harmless bytes, at each size
        wait_for(lambda: any(s["id"] == sid and (s["cols"], s["rows"]) == (80, 24)
                             for s in d.ls_json()), "the last resize to land")
        # Memory stays bounded: a 10000x10000 screen stores only the cells written.
        rss1 = rss_kib(d.pid)
        check(rss1 - rss0 < 64 * 1024, "daemon RSS grew %d KiB over the resizes" % (rss1 - rss0))
        # And it still works: input reaches the program, which exits normally.
        c.send(wire.input_(sid, b"q\r"))
        check_eq(d.cli("wait", str(sid), timeout=TIMEOUT).returncode, 0, "the program ended")
        url = "http://%s/api/sessions/%d" % (d.http_addr, sid)
        req = urllib.request.Request(url, headers=dict(d.auth_header()))
        info = json.loads(urllib.request.urlopen(req, timeout=TIMEOUT).read())
        check_eq(info["state"], "exited", "REST sees the exit")
