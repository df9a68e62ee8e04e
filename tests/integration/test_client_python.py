"""test_client_python: the Python client library (clients/python) against the real
daemon: the codec against the documented bytes, the blocking and asyncio clients over
the Unix socket, stdio and WebSocket, a 16-session stdio broker (floods, a program that
never reads its input, prompts), and resuming from an offset after a restart. The
package is used from the source tree (no installation)."""

import asyncio
import hashlib
import os
import re
import subprocess
import sys
import time

from harness import Daemon, ROOT, TIMEOUT, Skip, check, check_eq

sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

import ptyhub  # noqa: E402
from ptyhub import (AsyncClient, Client, ConnectionClosed, Exit, Output, PtyhubError,  # noqa: E402
                    codec)

# The program of the exact-bytes tests: no echo, so the output is exactly what it prints.
PROMPT = ["sh", "-c", "stty -echo; printf ready; read p; printf 'got %s' \"$p\"; exit 3"]
FLOOD_N = 1000000
FLOOD = ["sh", "-c", "head -c %d /dev/zero | tr '\\0' x; echo; echo done" % FLOOD_N]


def _hex(s):
    return bytes.fromhex("".join(s.split()))


def test_client_python_codec_matches_the_doc():
    """Every worked example of docs/protocol.md, both ways."""
    check_eq(codec.frame(codec.encode_hello(2)), _hex("09000000 01 50545948 0200 0000"), "HELLO")
    check_eq(codec.frame(codec.encode_hello()), _hex("09000000 01 50545948 0300 0000"),
             "HELLO (the client speaks version 3)")
    check_eq(codec.frame(codec.encode_create(
        1, ["sh", "-c", "printf hello; exit 3"], name="demo", env={"TERM": "xterm-256color"},
        cols=80, rows=24)), _hex(
        "4c000000 02 01000000 5000 1800 0400 64656d6f 0000 0300 1b000000"
        "7368002d63007072696e74662068656c6c6f3b20657869742033 00"
        "0100 14000000 5445524d3d787465726d2d323536636f6c6f7200"), "CREATE")
    check_eq(codec.frame(codec.encode_attach(2, 1)),
             _hex("19000000 03 02000000 01000000 00 00 0000 0000000000000000 0000 0000"), "ATTACH")
    check_eq(codec.frame(codec.encode_signal(8, 1, 0)), _hex("0a000000 07 08000000 01000000 00"),
             "SIGNAL")
    check_eq(codec.frame(codec.encode_ack(1, 5)), _hex("0d000000 09 01000000 0500000000000000"),
             "ACK")
    check_eq(codec.frame(codec.encode_write(9, 1, b"ls\r")),
             _hex("0d000000 0b 09000000 01000000 00 6c730d"), "WRITE")
    check_eq(codec.encode_write(9, 1, b"", codec.WRITE_F_RESUME)[9], 1, "WRITE RESUME flag")

    stream = _hex(
        "0e000000 81 0200 0100 92100000 302e312e30"
        "0d000000 82 01000000 01000000 93100000"
        "1e000000 83 02000000 01000000 0000000000000000 0500000000000000 5000 1800 01"
        "12000000 90 01000000 0000000000000000 68656c6c6f"
        "15000000 91 01000000 0500000000000000 03000000 00000000"
        "52000000 85 03000000 00 0100 01000000 93100000 01 00 0000 03000000 00000000"
        "5000 1800 0500000000000000 0068e5cf8b010000 0400 64656d6f 1a00"
        "7368202d63207072696e74662068656c6c6f3b20657869742033"
        "15000000 92 01000000 0000000000000000 0010000000000000"
        "17000000 e0 07000000 09000000 0600 6e6f2073657373696f6e2039"
        "05000000 84 09000000"
        "02000000 7f 00")  # an unknown type: skipped
    split = codec.FrameSplitter()
    msgs = []
    for i in range(0, len(stream), 7):  # frames split across reads
        split.feed(stream[i:i + 7])
        msgs += [codec.decode(b) for b in split.bodies()]
    check_eq(msgs, [
        codec.Welcome(2, 1, 4242, "0.1.0"), codec.Created(1, 1, 4243),
        codec.Attached(2, 1, 0, 5, 80, 24, 1), Output(1, 0, b"hello"), Exit(1, 5, 3, 0),
        codec.ListReply(3, False, [codec.SessionInfo(1, 4243, 1, 0, 0, 3, 0, 80, 24, 5,
                                                     1700000000000, "demo",
                                                     "sh -c printf hello; exit 3")]),
        codec.Gap(1, 0, 4096), codec.Error(7, 9, 6, "no session 9"), codec.Ok(9), None],
        "decoded worked examples")
    for bad in (b"\x00\x00\x00\x00", (codec.MAX_BODY + 1).to_bytes(4, "little")):
        s = codec.FrameSplitter()
        s.feed(bad)
        try:
            list(s.bodies())
        except codec.DecodeError:
            pass
        else:
            raise AssertionError("frame length %r accepted" % bad)


def test_client_python_write_plan_never_reorders():
    """The WRITE pipeline against a simulated server with the documented refusal latch
    (docs/protocol.md, WRITE): random queue sizes, program reads and reply timing; what
    the server queued is always exactly the data, in order, and OKs come in order."""
    import random
    from ptyhub._common import WritePlan
    for seed in range(200):
        rnd = random.Random(seed)
        data = rnd.randbytes(rnd.randint(0, 700000))
        cap = rnd.choice([65536, 100000, 300000, 1 << 20])
        plan = WritePlan(data, resume_first=rnd.random() < 0.2)
        queued, delivered, replies = [], bytearray(), []
        latched, acks, reqs = False, [], [0]

        def new_req():
            reqs[0] += 1
            return reqs[0]
        steps = 0
        while not plan.finished:
            steps += 1
            check(steps < 100000, "seed %d: no progress" % seed)
            for req, flags, chunk in plan.to_send(new_req):
                if latched and not flags & codec.WRITE_F_RESUME:
                    replies.append(("limit", req))
                elif sum(len(q[1]) for q in queued) + len(chunk) <= cap:
                    latched = False
                    queued.append((req, chunk))
                else:
                    latched = True
                    replies.append(("limit", req))
            r = rnd.random()
            if queued and r < 0.4:  # the program reads a whole WRITE: its OK
                req, chunk = queued.pop(0)
                delivered += chunk
                replies.append(("ok", req))
            elif replies and r < 0.9:
                kind, req = replies.pop(0)
                if kind == "ok":
                    acks.append(plan.on_ok(req))
                else:
                    plan.on_limit(req)
            elif plan.refused and not plan.retry_ready:
                plan.retry_ready = True  # the retry delay passed
        check_eq(bytes(delivered), data, "seed %d: bytes the program read" % seed)
        check(acks == sorted(acks) and (not data or acks[-1] == len(data)),
              "seed %d: acks %r" % (seed, acks))


def _exact_bytes_blocking(c):
    sid = c.create(PROMPT, name="exact", env={"TERM": "dumb", "PATH": os.environ["PATH"]})
    check(c.attach(sid).sid == sid, "ATTACHED names the session")
    first = c.next_event(TIMEOUT, sid)  # "ready": echo is off from here on
    check(isinstance(first, Output) and first.offset == 0, "first event %r" % (first,))
    seen = first.data
    while seen != b"ready":
        ev = c.next_event(TIMEOUT, sid)
        seen += ev.data
    acked = []
    c.write(sid, b"hello \xff\n", on_ack=acked.append)
    check_eq(acked, [8], "on_ack of one small write")
    rest, ex = c.output_until_exit(sid)
    check_eq(seen + rest, b"readygot hello \xff", "output of the prompt program")
    check_eq(ex, Exit(sid, 16, 3, 0), "EXIT")
    info = [s for s in c.list() if s.sid == sid][0]
    check_eq((info.name, info.running, info.exit_code, info.bytes_out), ("exact", False, 3, 16),
             "LIST entry")
    try:
        c.write(sid, b"late\n")
    except PtyhubError as e:
        check_eq((e.code, e.name, e.sid), (12, "exited", sid), "WRITE to an exited session")
    else:
        raise AssertionError("WRITE to an exited session succeeded")
    c.remove(sid)
    try:
        c.attach(sid)
    except PtyhubError as e:
        check_eq((e.code, e.name), (6, "no_such_session"), "ATTACH of a removed session")
        check(e.req != 0, "the error names its request")
    else:
        raise AssertionError("ATTACH of a removed session succeeded")
    # Fire-and-forget failures come back as events.
    c.input(999999, b"x")
    ev = c.next_event(TIMEOUT)
    check(isinstance(ev, ptyhub.Failed) and ev.error.name == "no_such_session"
          and ev.sid == 999999, "INPUT to no session gives a Failed event: %r" % (ev,))
    # A session killed by a signal.
    sid = c.create(["sleep", "100"])
    c.attach(sid, mode="read_only", live=True)
    c.signal(sid, 15)
    out, ex = c.output_until_exit(sid)
    check_eq((out, ex.code, ex.signal), (b"", -1, 15), "killed session")


async def _exact_bytes_async(c):
    sid = await c.create(PROMPT, cols=100, rows=30)
    a = await c.attach(sid, cols=120, rows=40)
    check_eq((a.cols, a.rows), (120, 40), "attach with a size resizes")
    seen = b""
    async for ev in c.events(timeout=TIMEOUT, sid=sid):
        seen += ev.data
        if seen == b"ready":
            break
    await c.resize(sid, 90, 20)
    await c.write(sid, "héllo\n")
    rest, ex = await c.output_until_exit(sid)
    check_eq(seen + rest, "readygot héllo".encode(), "output of the prompt program (asyncio)")
    check_eq((ex.code, ex.signal, ex.end), (3, 0, len(seen + rest)), "EXIT (asyncio)")
    info = [s for s in await c.list() if s.sid == sid][0]
    check_eq((info.cols, info.rows), (90, 20), "size after RESIZE")
    try:
        await c.signal(424242)
    except PtyhubError as e:
        check_eq((e.code, e.name, e.sid), (6, "no_such_session", 424242), "SIGNAL to no session")
    else:
        raise AssertionError("SIGNAL to no session succeeded")


def test_client_python_unix_blocking_and_asyncio():
    with Daemon() as d:
        with Client.connect_unix(d.sock, timeout=TIMEOUT) as c:
            check_eq((c.welcome.version, c.can_write), (3, True), "WELCOME")
            _exact_bytes_blocking(c)

        async def main():
            async with await AsyncClient.connect_unix(d.sock, timeout=TIMEOUT) as c:
                await _exact_bytes_async(c)
        asyncio.run(main())
        # The default socket path rules.
        old = os.environ.get("PTYHUB_SOCKET")
        os.environ["PTYHUB_SOCKET"] = d.sock
        try:
            check_eq(ptyhub.default_socket_path(), d.sock, "$PTYHUB_SOCKET")
            with Client.connect_unix(timeout=TIMEOUT) as c:
                check(isinstance(c.list(), list), "LIST over the default socket")
        finally:
            if old is None:
                del os.environ["PTYHUB_SOCKET"]
            else:
                os.environ["PTYHUB_SOCKET"] = old


def test_client_python_stdio_blocking_and_asyncio():
    d = Daemon()
    with open(d.log_path, "wb") as log:
        with Client.spawn_stdio(d.bin, stderr=log.fileno(), timeout=TIMEOUT) as c:
            proc = c.transport.proc
            _exact_bytes_blocking(c)
            sid = c.create(["sleep", "100"])
        check_eq(proc.returncode, 0, "`ptyhub stdio` exit status once the client closed")

        async def main():
            async with await AsyncClient.spawn_stdio(d.bin, stderr=log.fileno(),
                                                     timeout=TIMEOUT) as c:
                await _exact_bytes_async(c)
        asyncio.run(main())
    del sid


def test_client_python_websocket():
    with Daemon() as d:
        url = "ws://%s/ws" % d.http_addr
        # The token from the file beside the socket.
        with Client.connect_ws(url, socket_path=d.sock, timeout=TIMEOUT) as c:
            _exact_bytes_blocking(c)

        async def main():
            async with await AsyncClient.connect_ws(url, token=d.token, timeout=TIMEOUT) as c:
                await _exact_bytes_async(c)
                # Big messages both ways: a 200 KiB write, output over 64 KiB frames.
                sid = await c.create(["sh", "-c", "stty raw -echo; printf ready; head -c 200000"
                                      " | od -An -v -tx1; printf END"])
                await c.attach(sid)
                ev = await c.next_event(TIMEOUT, sid)
                check_eq(ev.data, b"ready", "the od session is ready")
                await c.write(sid, bytes(range(256)) * 781 + b"0123456789abcdef" * 4)
                out, ex = await c.output_until_exit(sid)
                check(out.endswith(b"END") and len(out) > 600000, "od output: %d bytes"
                      % len(out))
                lines = out[:-3].split(b"\n")
                data = bytes(int(x, 16) for ln in lines for x in ln.split())
                check_eq(data, bytes(range(256)) * 781 + b"0123456789abcdef" * 4,
                         "bytes written over WebSocket, as the program read them")
        asyncio.run(main())
        try:
            Client.connect_ws(url, token="wrong", timeout=TIMEOUT)
        except (PtyhubError, ConnectionClosed) as e:
            check(getattr(e, "name", "auth") == "auth", "wrong token: %r" % e)
        else:
            raise AssertionError("a wrong token was accepted")


async def _fanout(bin_path, log):
    c = await AsyncClient.spawn_stdio(bin_path, args=["--scrollback", "4M"], stderr=log,
                                      timeout=TIMEOUT)
    async with c:
        exits = {}
        await c.subscribe(["exited"], callback=lambda ev: exits.setdefault(ev.sid, ev))
        # OPEN: each flood is created and attached in one request, from byte 0.
        floods = [(await c.open(FLOOD, name="flood%d" % i)).sid for i in range(8)]
        # Raw mode: a cooked tty whose line is full throws further input away, so it
        # would take (and drop) the whole 3 MiB; a raw one stops taking it.
        stuck = await c.create(["sh", "-c", "stty raw -echo; exec sleep 120"], name="stuck")
        n = 300001
        prompt = ["sh", "-c", "stty raw -echo; printf ready; n=$(head -c %d | wc -c);"
                  " printf 'got %%s' $n" % n]
        prompts = [await c.create(prompt, name="prompt%d" % i) for i in range(7)]
        every = floods + [stuck] + prompts
        check_eq(len(set(every)), 16, "16 sessions")
        for sid in [stuck] + prompts:
            await c.attach(sid)

        # The stuck program never reads: 3 MiB to it fill its input queue (1 MiB), so
        # its WRITEs are refused and resent with RESUME, and never finish.
        stuck_acks = []
        stuck_write = asyncio.ensure_future(c.write(stuck, b"s" * (3 << 20),
                                                    on_ack=stuck_acks.append))

        async def drain(sid):
            return await c.output_until_exit(sid, timeout=TIMEOUT)

        async def prompted(sid):
            seen = b""
            while seen != b"ready":
                ev = await c.next_event(TIMEOUT, sid)
                seen += ev.data
            acks = []
            t0 = time.monotonic()
            await c.write(sid, b"p" * (n - 1) + b"\n", on_ack=acks.append)
            took = time.monotonic() - t0
            check(acks == sorted(acks) and acks[-1] == n and len(acks) >= 5,
                  "session %d: acks in order, every byte: %r" % (sid, acks))
            out, ex = await c.output_until_exit(sid, timeout=TIMEOUT)
            return seen + out, ex, took

        t0 = time.monotonic()
        results = await asyncio.gather(*[drain(s) for s in floods],
                                       *[prompted(s) for s in prompts])
        elapsed = time.monotonic() - t0
        want_flood = hashlib.sha256(b"x" * FLOOD_N + b"\r\ndone\r\n").hexdigest()
        for sid, (out, ex) in zip(floods, results[:8]):
            check_eq(hashlib.sha256(out).hexdigest(), want_flood,
                     "flood session %d's bytes (sha256)" % sid)
            check_eq((ex.code, ex.end), (0, FLOOD_N + 8), "flood session %d's EXIT" % sid)
        for sid, (out, ex, took) in zip(prompts, results[8:]):
            check_eq(out, b"readygot %d" % n, "prompt session %d's output" % sid)
            check_eq(ex.code, 0, "prompt session %d's exit" % sid)
        check(not stuck_write.done(), "the stuck session's write is still waiting (%r)"
              % (stuck_write.done() and stuck_write.exception(),))
        check(stuck_acks == sorted(stuck_acks), "stuck acks in order: %r" % stuck_acks)
        sys.stdout.write("16 sessions: floods and prompts done in %.1fs; stuck session acked "
                         "%s bytes of 3 MiB\n" % (elapsed, stuck_acks[-1:] or 0))
        # Ending the stuck program ends its write with an error, and it exits too.
        await c.signal(stuck)
        try:
            await asyncio.wait_for(stuck_write, TIMEOUT)
        except PtyhubError as e:
            check(e.name in ("exited", "no_such_session"), "stuck write ended by %r" % e)
        else:
            raise AssertionError("the stuck write succeeded after its program was killed")
        out, ex = await c.output_until_exit(stuck, timeout=TIMEOUT)
        check(ex.signal != 0 or ex.code != 0, "the stuck session was killed: %r" % (ex,))
        states = {s.sid: s.running for s in await c.list()}
        check_eq(sorted(s for s, r in states.items() if not r), sorted(every),
                 "every session exited")
        # The EXITED events came through the callback, one per session, with its status.
        deadline = time.monotonic() + TIMEOUT
        while len(exits) < len(every) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        check_eq(sorted(exits), sorted(every), "an EXITED event for every session")
        for sid, (out, ex) in zip(floods + prompts, results[:8] + [r[:2] for r in results[8:]]):
            check_eq((exits[sid].code, exits[sid].end), (ex.code, ex.end),
                     "session %d's EXITED event against its EXIT" % sid)


def test_client_python_stdio_fanout_16_sessions():
    d = Daemon()
    with open(d.log_path, "wb") as log:
        try:
            asyncio.run(asyncio.wait_for(_fanout(d.bin, log.fileno()), 2 * TIMEOUT))
        except BaseException:
            sys.stderr.write("--- ptyhub stdio log\n%s\n---\n" % d.log_text())
            raise


def test_client_python_resume_after_restart():
    """A client that stops after some output and comes back attaches from the last
    offset it saw: together, exactly the session's bytes, no gap, no duplicate."""
    script = "for i in $(seq 1 3000); do echo line $i; done; sleep 0.3; echo tail; exit 7"
    with Daemon() as d:
        with Client.connect_unix(d.sock, timeout=TIMEOUT) as c:
            sid = c.create(["sh", "-c", script])
            c.attach(sid)
            first = bytearray()
            last = 0
            for ev in c.events(timeout=TIMEOUT, sid=sid):
                check_eq(ev.offset, last, "offset of the next OUTPUT")
                first += ev.data
                last = ev.end
                if last > 5000:
                    break
        # "Restart": a new connection from the offset we stored.
        with Client.connect_unix(d.sock, timeout=TIMEOUT) as c:
            a = c.attach(sid, from_offset=last)
            check(a.start <= last <= a.end, "resume offset %d within [%d, %d]"
                  % (last, a.start, a.end))
            ev = c.next_event(TIMEOUT, sid)
            check(isinstance(ev, Output) and ev.offset == last, "resumed at %d: %r"
                  % (last, ev))
            rest, ex = c.output_until_exit(sid)
            whole = bytes(first) + ev.data + rest
            check_eq(ex.code, 7, "exit status")
            c.attach(sid, from_offset=0)
            again, ex2 = c.output_until_exit(sid)
            check_eq(whole, again, "resumed stream == the whole retained output")
            want = b"".join(b"line %d\r\n" % i for i in range(1, 3001)) + b"tail\r\n"
            check_eq(whole, want, "the session's output")
            check_eq(ex2.end, len(want), "EXIT end")


def test_client_python_slow_consumer_is_bounded():
    """A client whose caller stops taking events holds at most the server's window per
    session, pauses that session's program, and still gets its replies; other
    connections are not slowed."""
    with Daemon() as d:
        with Client.connect_unix(d.sock, timeout=TIMEOUT) as c:
            yes = c.create(["yes", "y" * 200])
            c.attach(yes)
            # Nobody takes events: the program must come to a stop (replies still get
            # through: list() is answered while OUTPUT waits).
            sizes = [-1]
            deadline = time.monotonic() + TIMEOUT
            while True:
                info = [s for s in c.list() if s.sid == yes][0]
                sizes.append(info.bytes_out)
                if sizes[-1] == sizes[-2] or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            check(sizes[-1] == sizes[-2], "the program is paused: bytes_out %r" % sizes)
            buffered = c._core.events.buffered_bytes
            check(buffered <= (2 << 20) + (1 << 20), "the client buffered %d bytes" % buffered)
            check(sizes[-1] <= 8 << 20, "the program stopped after %d bytes" % sizes[-1])
            sys.stdout.write("paused after %d bytes, %d of them buffered in the client\n"
                             % (sizes[-1], buffered))
            with Client.connect_unix(d.sock, timeout=TIMEOUT) as other:
                sid = other.create(PROMPT)
                other.attach(sid)
                ev = other.next_event(TIMEOUT, sid)
                t0 = time.monotonic()
                other.write(sid, b"quick\n")
                out, ex = other.output_until_exit(sid)
                check_eq(ev.data + out, b"readygot quick", "another connection's session")
                check(time.monotonic() - t0 < 10, "another connection was not slowed")
            # Taking events resumes the program.
            got = 0
            for ev in c.events(timeout=TIMEOUT, sid=yes):
                got += len(ev.data)
                if got > sizes[-1] + (4 << 20):
                    break
            check(got > sizes[-1] + (4 << 20), "output resumed: %d bytes" % got)
            c.signal(yes)


def _readme_blocks():
    with open(os.path.join(ROOT, "clients", "python", "README.md")) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_client_python_readme_examples():
    """The README's broker: crashes after five events, then resumes; every agent's log
    holds exactly its bytes. Then the asyncio example, with `ptyhub` on PATH."""
    broker, aio_example, v3_example = _readme_blocks()[:3]
    compile(v3_example, "README version 3 example", "exec")  # its API names are checked below
    for name in ("open", "subscribe", "paste", "session_events", "screen", "wait", "attach"):
        check("c.%s(" % name in v3_example and hasattr(Client, name) and
              hasattr(AsyncClient, name), "README v3 example uses Client.%s" % name)
    with Daemon() as d:
        work = os.path.join(d.dir, "broker")
        os.mkdir(work)
        with open(os.path.join(work, "broker.py"), "w") as f:
            f.write(broker)
        env = dict(os.environ, PTYHUB_SOCKET=d.sock,  # spawn_stdio() ignores it
                   PYTHONPATH=os.path.join(ROOT, "clients", "python"),
                   PATH=os.path.dirname(d.bin) + os.pathsep + os.environ["PATH"])

        def run(*args):
            return subprocess.run([sys.executable, "broker.py"] + list(args), cwd=work, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=TIMEOUT)
        p = run("--crash-after", "5")
        check_eq(p.returncode, 1, "the crashing broker's status (stderr %r)" % p.stderr)
        check(os.path.exists(os.path.join(work, "broker.json")), "the broker saved its state")
        p = run()
        check_eq(p.returncode, 0, "the resumed broker's status (stderr %r)" % p.stderr)
        logs = sorted(n for n in os.listdir(work) if n.startswith("agent-"))
        check_eq(len(logs), 9, "agent logs")
        for n in logs:
            sid = int(n[len("agent-"):-len(".log")])
            with open(os.path.join(work, n), "rb") as f:
                want = b"prompt for %d\r\ngot prompt for %d\r\n" % (sid, sid)
                check_eq(f.read(), want, "%s after a crash and a resume" % n)
        check_eq(d.ls_json(), [], "the broker removed its sessions")

        with open(os.path.join(work, "aio.py"), "w") as f:
            f.write(aio_example)
        p = subprocess.run([sys.executable, "aio.py"], cwd=work, env=env, timeout=TIMEOUT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check_eq(p.returncode, 0, "the asyncio example's status (stderr %r)" % p.stderr)
        lines = p.stdout.decode().splitlines()
        check_eq(sorted(lines), sorted("%d 0 b'prompt %d\\r\\ngot prompt %d\\r\\n'" % (i, i, i)
                                       for i in range(9)), "the asyncio example's output")


def test_client_python_write_resumes_after_refusals():
    """A program that reads slowly behind a small input queue: WRITEs are refused with
    `limit` and resent with RESUME, and the program reads exactly the bytes written, in
    order (checksum). A write() abandoned on a timeout does not block the next one."""
    import hashlib
    data = os.urandom(600000)
    with Daemon("--input-queue", "64K") as d:
        with Client.connect_unix(d.sock, timeout=TIMEOUT) as c:
            sid = c.create(["sh", "-c", "stty raw -echo -iexten; printf ready; sleep 1;"
                            " head -c %d | sha256sum" % len(data)])
            c.attach(sid)
            check_eq(c.next_event(TIMEOUT, sid).data, b"ready", "ready")
            acks = []
            c.write(sid, data, on_ack=acks.append)
            check(c.write_refusals > 0, "no WRITE was refused: the test tests nothing")
            check(acks == sorted(acks) and acks[-1] == len(data), "acks in order: %r" % acks)
            out, ex = c.output_until_exit(sid)
            check_eq(out.split()[0].decode(), hashlib.sha256(data).hexdigest(),
                     "sha256 of what the program read (%d refusals)" % c.write_refusals)

            sid = c.create(["sh", "-c", "stty raw -echo -iexten; printf ready; sleep 2;"
                            " cat >/dev/null"])
            c.attach(sid)
            check_eq(c.next_event(TIMEOUT, sid).data, b"ready", "ready")
            try:
                c.write(sid, b"a" * 300000, timeout=0.5)
            except TimeoutError:
                pass
            else:
                raise AssertionError("a write to a program asleep behind a 64K queue finished")
            c.write(sid, b"b" * 300005)  # clears the latch; the program reads it all
            c.signal(sid, 15)
            out, ex = c.output_until_exit(sid)
            check_eq((out, ex.signal), (b"", 15), "output and exit")


def test_client_python_gap_when_not_retained():
    """Attaching below what the daemon still retains gives one Gap, then the retained
    bytes, contiguous; output_until_exit reports the loss as LostOutput."""
    with Daemon("--scrollback", "64K") as d:
        with Client.connect_unix(d.sock, timeout=TIMEOUT) as c:
            sid = c.create(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' y; printf END"])
            c.attach(sid, mode="read_only", live=True)
            for ev in c.events(timeout=TIMEOUT, sid=sid):  # a viewer may get gaps
                if isinstance(ev, Exit):
                    break
            a = c.attach(sid, mode="read_only", from_offset=10)
            check(a.start > 10 and a.end == 300003 and a.exited, "ATTACHED %r" % (a,))
            ev = c.next_event(TIMEOUT, sid)
            check_eq(ev, ptyhub.Gap(sid, 10, a.start), "the first event")
            out, ex = c.output_until_exit(sid)
            check_eq((len(out), out[-3:], ex.end), (a.end - a.start, b"END", a.end),
                     "the retained bytes")
            c.attach(sid, mode="read_only", tail=100)
            out, ex = c.output_until_exit(sid)
            check_eq(out, b"y" * 97 + b"END", "tail=100")
            c.attach(sid, mode="read_only", from_offset=0)
            try:
                c.output_until_exit(sid)
            except ptyhub.LostOutput as e:
                check_eq((e.sid, e.start, e.end), (sid, 0, a.start), "LostOutput")
            else:
                raise AssertionError("no LostOutput for bytes not retained")


# ---- version 3: OPEN, events, paste, screen, wait, snapshots, LIST ext ----------------

def test_client_python_v3_codec_against_the_spec():
    """The version 3 messages, built by hand from docs/protocol.md and /work's spec."""
    check_eq(codec.frame(codec.encode_open(1, ["sh", "-c", "printf hi"], cols=80, rows=24)),
             _hex("2b000000 0e 01000000 01 00 5000 1800 0000 0000 0300 10000000"
                  "7368002d63007072696e746620686900 0000 00000000"), "OPEN (doc)")
    check_eq(codec.encode_events(2, 0x3e), _hex("0f 02000000 3e000000"), "EVENTS")
    check_eq(codec.encode_paste(3, 1, b"ls\n", codec.PASTE_F_ENTER),
             _hex("10 03000000 01000000 01 6c730a"), "PASTE")
    check_eq(codec.encode_screen(4, 1, codec.SCREEN_F_ANSI), _hex("0c 04000000 01000000 01"),
             "SCREEN")
    check_eq(codec.encode_wait(5, 1, codec.WAIT_F_TEXT | codec.WAIT_F_IDLE, 7, 100, 2000, "a+"),
             _hex("0d 05000000 01000000 03 0700000000000000 64000000 d0070000 612b"), "WAIT")
    ev = codec.decode(_hex("95 01 01000000 0068e5cf8b010000 93100000 5000 1800 0000 0f00"
                           "7368202d63207072696e7466206869"))
    check_eq((ev.kind_name, ev.sid, ev.time_ms, ev.pid, ev.command),
             ("created", 1, 1700000000000, 4243, "sh -c printf hi"), "EVENT created (doc)")
    ev = codec.decode(_hex("95 02 01000000 0568e5cf8b010000 ffffffff 09000000 0200000000000000"))
    check_eq((ev.kind_name, ev.code, ev.signal, ev.end), ("exited", -1, 9, 2), "EVENT exited")
    ev = codec.decode(_hex("95 09 01000000 0568e5cf8b010000 0102"))
    check_eq(ev.kind_name, "kind_9", "an EVENT kind from the future is skipped, not an error")
    scr = codec.decode(_hex("86 04000000 01000000 2000000000000000 5000 1800 0300 0100 03"
                            "04000000 0300 76696d 6869"))
    check_eq((scr.req, scr.offset, scr.cols, scr.rows, scr.cursor_col, scr.cursor_row,
              scr.cursor_visible, scr.alt_screen, scr.modes, scr.title, scr.text),
             (4, 32, 80, 24, 3, 1, True, True, 4, "vim", "hi"), "SCREEN_REPLY")
    w = codec.decode(_hex("87 05000000 01000000 02 4000000000000000"))
    check_eq((w.req, w.sid, w.reason, w.offset), (5, 1, "idle", 64), "WAITED")
    snap = codec.decode(_hex("94 01000000 2000000000000000 1b5b48"))
    check_eq((snap.sid, snap.offset, snap.data), (1, 32, b"\x1b[H"), "SNAPSHOT")
    entry = _hex("01000000 93100000 00 00 0100 ffffffff 00000000 5000 1800 0500000000000000"
                 "0068e5cf8b010000 0000 0200 7368")
    ext = _hex("01 02000000 0568e5cf8b010000 0300 76696d 0400 2f746d70")
    lst = codec.decode(_hex("85 03000000 02 0100") + entry + ext)
    s = lst.sessions[0]
    check_eq((s.command, s.class_name, s.bells, s.last_output_ms, s.title, s.cwd),
             ("sh", "bulk", 2, 1700000000005, "vim", "/tmp"), "LIST_REPLY entry, EXT layout")
    old = codec.decode(_hex("85 03000000 00 0100") + entry)
    check_eq((old.sessions[0].command, old.sessions[0].title), ("sh", ""),
             "LIST_REPLY entry, version 2 layout, same decoder")


def test_client_python_v3_open_events_paste():
    with Daemon("--terminal-state", "on", "--scrollback", "4096") as d:
        with Client.connect_unix(d.sock, timeout=TIMEOUT) as c:
            check_eq(c.welcome.version, 3, "version")
            c.subscribe(["created", "exited", "removed"])
            # HOLD: nothing is read until the first attach, however long we wait.
            script = "printf start; seq 1 5000; printf end"
            held = c.open(["sh", "-c", script], attach=False, hold=True)
            check(held.attached is None and held.pid > 0, "a held OPEN: %r" % (held,))
            time.sleep(0.3)
            check_eq(next(s.bytes_out for s in c.list() if s.sid == held.sid), 0,
                     "a held session's output is not read")
            c.attach(held.sid)
            out, ex = c.output_until_exit(held.sid)
            check(out.startswith(b"start1\r\n") and out.endswith(b"5000\r\nend"),
                  "the held session's output from byte 0: %r...%r" % (out[:20], out[-20:]))
            # OPEN with attach, under a flood with a 4 KiB scrollback: byte 0 arrives.
            op = c.open(["sh", "-c", "printf zero; exec yes"])
            check_eq((op.attached.start, op.attached.end), (0, 0), "ATTACHED of OPEN")
            ev = c.next_event(TIMEOUT, op.sid)
            check(isinstance(ev, Output) and ev.offset == 0 and ev.data.startswith(b"zero"),
                  "the first byte of a flood: %r" % (ev,))
            c.signal(op.sid)
            c.output_until_exit(op.sid)
            # Paste into a program that enabled bracketed paste (terminal state is on).
            p = c.open(["sh", "-c", "stty raw -echo; printf 'R\\033[?2004h'; exec cat -v"])
            seen = b""
            while b"2004h" not in seen:
                seen += c.next_event(TIMEOUT, p.sid).data
            c.paste(p.sid, "a\nb", enter=True)  # returns once written to the terminal
            while b"^[[201~^M" not in seen:
                seen += c.next_event(TIMEOUT, p.sid).data
            check(b"^[[200~a^Mb^[[201~^M" in seen, "a bracketed paste: %r" % seen)
            c.signal(p.sid)
            # Errors are exceptions carrying the protocol's code.
            try:
                c.open(["/nonexistent/program"])
            except PtyhubError as e:
                check_eq((e.code, e.name), (7, "spawn_failed"), "OPEN of a missing program")
            else:
                raise AssertionError("OPEN of a missing program succeeded")
            # Lifecycle events for all of it, in order per session.
            got = {}
            while sum(1 for k in got.values() for e in k if e.kind_name == "exited") < 3:
                ev = c.next_session_event(TIMEOUT)
                check(ev is not None, "lifecycle events (got %r)" % got)
                got.setdefault(ev.sid, []).append(ev)
            for sid in (held.sid, op.sid, p.sid):
                check_eq([e.kind_name for e in got[sid]][:2], ["created", "exited"],
                         "session %d's events" % sid)
            c.remove(held.sid)
            ev = c.next_session_event(TIMEOUT)
            check_eq((ev.kind_name, ev.sid), ("removed", held.sid), "REMOVED event")
            # Over WebSocket too: the same EVENTS, for a session another client creates.
            with Client.connect_ws("ws://%s/ws" % d.http_addr, token=d.token,
                                   timeout=TIMEOUT) as w:
                w.subscribe(["created"])
                sid = c.create(["true"], name="from-unix")
                ev = w.next_session_event(TIMEOUT)
                check_eq((ev.kind_name, ev.sid, ev.name), ("created", sid, "from-unix"),
                         "a WebSocket client's CREATED event")

        async def main():
            async with await AsyncClient.connect_unix(d.sock, timeout=TIMEOUT) as a:
                await a.subscribe()
                op = await a.open(["sh", "-c", "stty -echo; printf ready; read x; exit 5"])
                ev = await a.next_event(TIMEOUT, op.sid)
                check_eq(ev.data, b"ready", "output before the paste")
                await a.paste(op.sid, "", enter=True)
                out, ex = await a.output_until_exit(op.sid)
                check_eq((out, ex.code), (b"", 5), "asyncio OPEN + paste")
                kinds = []
                async for ev in a.session_events(timeout=TIMEOUT):
                    if ev.sid != op.sid:
                        continue  # another client's session
                    kinds.append((ev.kind_name, ev.sid))
                    if ev.kind_name == "exited":
                        break
                check_eq(kinds, [("created", op.sid), ("exited", op.sid)], "asyncio events")
        asyncio.run(main())


def test_client_python_screen_wait_snapshot():
    """SCREEN, WAIT and ATTACH from a snapshot through the client (server side: the
    terminal-surface work; skipped where this server does not answer them)."""
    with Daemon("--terminal-state", "on") as d:
        with Client.connect_unix(d.sock, timeout=TIMEOUT) as c:
            sid = c.open(["sh", "-c", "stty -echo; printf 'hello\\033]2;T\\007'; read x"]).sid
            try:
                w = c.wait(sid, text="hel+o", timeout_ms=20000, timeout=10)
            except TimeoutError:
                # A server without WAIT answers ERROR unknown_type with req 0 (it cannot
                # read the req of a type it does not know): a Failed event, no reply.
                ev = c.next_event(0)
                if ev is not None and getattr(ev, "error", None) is not None and \
                        ev.error.name == "unknown_type":
                    raise Skip("this server does not answer WAIT yet (terminal-surface)")
                raise
            check_eq(w.reason, "text", "WAIT reason")
            scr = c.screen(sid)
            check(scr.text.startswith("hello") and scr.offset >= 5, "SCREEN: %r" % (scr,))
            check_eq(scr.title, "T", "the title")
            c2 = Client.connect_unix(d.sock, timeout=TIMEOUT)
            with c2:
                att = c2.attach(sid, snapshot=True)
                ev = c2.next_event(TIMEOUT, sid)
                check(isinstance(ev, ptyhub.Snapshot) and ev.offset == att.end,
                      "a snapshot first: %r" % (ev,))
            w = c.wait(sid, idle_ms=50, after=scr.offset, timeout_ms=500)
            check(w.reason in ("idle", "timeout"), "WAIT idle: %r" % (w,))
            c.input(sid, "\n")
            c.output_until_exit(sid)
    with Daemon("--terminal-state", "off") as d, \
            Client.connect_unix(d.sock, timeout=TIMEOUT) as c:
        sid = c.open(["sleep", "100"]).sid
        try:
            c.screen(sid)
        except PtyhubError as e:
            check_eq(e.code, ptyhub.codes.UNAVAILABLE, "SCREEN with terminal state off")
            check(not c.welcome.flags & codec.WELCOME_F_TERMINAL, "no TERMINAL flag")
        else:
            raise AssertionError("SCREEN without terminal state succeeded")
        c.signal(sid)
