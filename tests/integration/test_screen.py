"""Terminal state as clients see it (issue 9, protocol version 3): the screen as text
(SCREEN, GET /api/sessions/ID/screen, `ptyhub screen`), waits for text or quiet (WAIT,
POST .../wait, `ptyhub wait --text/--idle`), attaching from a snapshot (ATTACH from_kind 3)
instead of a raw replay, and the v3 LIST fields. Real programs on real PTYs."""

import json
import os
import struct
import time

import wire
from harness import Daemon, check, check_eq, TIMEOUT

from wire import screen, wait, SCREEN_REPLY, WAITED, SNAPSHOT  # noqa: E402

def conn3(d):
    return wire.Conn.unix(d.sock, timeout=TIMEOUT, version=3)


def get_screen(c, sid, ansi=False):
    m = c.call(lambda req: screen(req, sid, ansi), SCREEN_REPLY)
    check_eq(m.type, SCREEN_REPLY, "SCREEN reply (%r)" % m)
    return m


def screen_has(c, sid, text):
    return text.encode() in get_screen(c, sid).data


def wait_screen(d, c, sid, text):
    m = c.call(lambda req: wait(req, sid, text=text, timeout_ms=int(TIMEOUT * 1000)), WAITED,
               timeout=TIMEOUT + 5)
    check_eq((m.type, getattr(m, "reason", None)), (WAITED, "text"), "WAIT for %r: %r" % (text, m))
    return m


# A program that draws at fixed positions and then sleeps.
DRAW = r"printf '\033[2J\033[3;5HHELLO\033[5;1Hline five\033]2;my title\007\033[1;1H'; sleep 600"


def test_screen_text_of_a_real_program():
    with Daemon("--terminal-state", "on") as d:
        with conn3(d) as c:
            check(c.welcome.version == 3 and c.welcome.flags & wire.WELCOME_F_TERMINAL,
                  "WELCOME v3 with the TERMINAL flag: %r" % c.welcome)
            sid = c.create(["sh", "-c", DRAW], cols=40, rows=10)
            wait_screen(d, c, sid, "line five")
            m = get_screen(c, sid)
            want = "\n\n    HELLO\n\nline five" + "\n" * 5
            check_eq(m.data.decode(), want, "screen text")
            check_eq((m.cols, m.rows, m.cursor), (40, 10, (0, 0)), "size and cursor")
            check_eq(m.title, b"my title", "title")
            a = get_screen(c, sid, ansi=True)
            check(a.data.startswith(b"\x1bc") and b"HELLO" in a.data, "ANSI snapshot: %r" % a.data)
