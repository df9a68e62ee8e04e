"""test_http_api: the JSON REST API under /api/ and /metrics, as a program driving
sessions over HTTP sees it: create (argv, name, cwd, env, size) and its refusals, list
and look up, read output from an offset (exact bytes, X-Ptyhub-* headers), type input,
resize, delete running and exited sessions; unknown ids, unknown paths and wrong methods;
requests for sessions owned by other reactor threads on one keep-alive connection; and
the Prometheus text of /metrics."""

import os
import re
import time

import wire
from harness import Daemon, check, check_eq, pid_alive, wait_for
from wsclient import Http, call, get


def _error_code(resp, status):
    check_eq(resp.status, status, "status of %r" % resp)
    doc = resp.json()
    check(isinstance(doc.get("error"), dict) and isinstance(doc["error"].get("message"), str)
          and doc["error"]["message"], "a JSON error with a message: %r" % doc)
    return doc["error"]["code"]


def _create(d, **body):
    resp = call(d, "POST", "/api/sessions", body)
    check_eq(resp.status, 201, "POST /api/sessions %r: %r" % (body, resp))
    check(resp.header("Content-Type").startswith("application/json"), "JSON: %r" % resp)
    return resp.json()


def _session(d, sid):
    resp = get(d, "/api/sessions/%d" % sid)
    check_eq(resp.status, 200, "GET /api/sessions/%d: %r" % (sid, resp))
    return resp.json()


def _wait_exited(d, sid):
    return wait_for(lambda: (lambda s: s if s["state"] == "exited" else None)(_session(d, sid)),
                    "session %d to exit" % sid)


def _output(d, sid, query=""):
    return get(d, "/api/sessions/%d/output%s" % (sid, query))


def _output_when(d, sid, pred, what):
    """Polls the output endpoint until pred(bytes) holds; returns the bytes."""
    def poll():
        resp = _output(d, sid)
        check_eq(resp.status, 200, "GET output: %r" % resp)
        return resp.body if pred(resp.body) else None
    return wait_for(poll, what)


def _ids(d):
    resp = get(d, "/api/sessions")
    check_eq(resp.status, 200, "GET /api/sessions")
    return [s["id"] for s in resp.json()["sessions"]]


def test_create_with_argv_name_cwd_env_and_size():
    with Daemon() as d:
        script = "pwd; printf '%s|%s\\n' \"$FOO\" \"$EMPTY\"; stty size"
        s = _create(d, argv=["sh", "-c", script], name="api-demo", cwd=d.dir,
                    env={"FOO": "bar baz", "EMPTY": ""}, cols=100, rows=30)
        for key, want in (("name", "api-demo"), ("cols", 100), ("rows", 30),
                          ("command", "sh -c " + script)):
            check_eq(s.get(key), want, "created session's %s" % key)
        check(isinstance(s.get("id"), int) and s["id"] > 0, "an id: %r" % s)
        check(isinstance(s.get("pid"), int) and s["pid"] > 0, "a pid: %r" % s)
        check(s.get("state") in ("running", "exited"), "a state: %r" % s)
        done = _wait_exited(d, s["id"])
        check_eq((done["exit_code"], done["exit_signal"]), (0, None), "exit status")
        want = ("%s\r\nbar baz|\r\n30 100\r\n" % d.dir).encode()
        check_eq(_output(d, s["id"]).body, want, "what the program saw: cwd, env, size")
        # env as an array of "K=V", and the default size.
        s2 = _create(d, argv=["sh", "-c", "printf %s \"$A\"; stty size"], env=["A=1=2"])
        _wait_exited(d, s2["id"])
        check_eq(_output(d, s2["id"]).body, b"1=2" + b"%d %d\r\n" % (s2["rows"], s2["cols"]),
                 "env array and default size")
        check_eq(_ids(d), [s["id"], s2["id"]], "listed ids")


def test_create_refusals():
    with Daemon() as d:
        cases = [
            (b"{not json", "bad_json"),
            (b"[\"true\"]", "bad_json"),
            (b"", "bad_json"),
            ({}, "bad_argument"),
            ({"argv": []}, "bad_argument"),
            ({"argv": "true"}, "bad_argument"),
            ({"argv": ["true", 5]}, "bad_argument"),
            ({"argv": ["true"], "cwd": 5}, "bad_argument"),
            ({"argv": ["true"], "name": ["x"]}, "bad_argument"),
            ({"argv": ["true"], "env": "A=1"}, "bad_argument"),
            ({"argv": ["true"], "env": {"A": 1}}, "bad_argument"),
            ({"argv": ["true"], "env": {"": "x"}}, "bad_argument"),
            ({"argv": ["true"], "env": ["NOEQUALS"]}, "bad_argument"),
            ({"argv": ["true"], "cols": "80", "rows": 24}, "bad_argument"),
            ({"argv": ["true"], "cols": 0, "rows": 24}, "bad_argument"),
            ({"argv": ["true"], "cols": 80.5, "rows": 24}, "bad_argument"),
            ({"argv": ["true"], "cols": 80, "rows": 10001}, "bad_argument"),
        ]
        for body, code in cases:
            check_eq(_error_code(call(d, "POST", "/api/sessions", body), 400), code,
                     "error code for body %r" % (body,))
        check_eq(_ids(d), [], "nothing was started")
        # A duplicate name is refused; the first keeps it.
        first = _create(d, argv=["sleep", "100"], name="twin")
        check_eq(_error_code(call(d, "POST", "/api/sessions",
                                  {"argv": ["true"], "name": "twin"}), 400),
                 "bad_argument", "a second session named twin")
        check_eq(_ids(d), [first["id"]], "only the first twin")


def test_create_validates_names_as_the_protocol_does():
    # The same daemon, the same sessions: a name the Unix socket refuses (CLI commands
    # would take "123" for an id) must be refused over HTTP too.
    with Daemon() as d:
        for name in ("123", "has space", "semi;colon", "x" * 65):
            with d.conn() as c:
                m = c.call(lambda req: wire.create(req, ["true"], name=name), wire.CREATED)
                check(m.type == wire.ERROR and m.code == wire.ERR_BAD_ARGUMENT,
                      "protocol CREATE named %r is refused: %r" % (name, m))
            resp = call(d, "POST", "/api/sessions", {"argv": ["true"], "name": name})
            check_eq(resp.status, 400, "POST /api/sessions named %r: %r" % (name, resp.body))
            check_eq(resp.json()["error"]["code"], "bad_argument", "code for name %r" % name)


def test_spawn_failure_is_400_spawn_failed():
    with Daemon() as d:
        for body, words in (({"argv": ["/no/such/program"]}, "/no/such/program"),
                            ({"argv": ["true"], "cwd": "/no/such/dir"}, "/no/such/dir")):
            resp = call(d, "POST", "/api/sessions", body)
            check_eq(_error_code(resp, 400), "spawn_failed", "code for %r" % body)
            check(words in resp.json()["error"]["message"],
                  "the message names %s: %r" % (words, resp.body))
        check_eq(_ids(d), [], "no session left behind by a failed spawn")
        # The daemon still starts programs afterwards.
        s = _create(d, argv=["true"])
        check_eq(_wait_exited(d, s["id"])["exit_code"], 0, "exit code of true")


def test_list_and_get_by_id():
    with Daemon() as d:
        a = _create(d, argv=["sleep", "100"], name="a")
        b = _create(d, argv=["sh", "-c", "exit 7"], name="b")
        _wait_exited(d, b["id"])
        resp = get(d, "/api/sessions")
        check_eq(resp.status, 200, "GET /api/sessions")
        listed = {s["id"]: s for s in resp.json()["sessions"]}
        check_eq(sorted(listed), sorted([a["id"], b["id"]]), "listed ids")
        check_eq((listed[a["id"]]["name"], listed[a["id"]]["state"]), ("a", "running"), "a")
        check_eq((listed[b["id"]]["state"], listed[b["id"]]["exit_code"]), ("exited", 7), "b")
        one = _session(d, a["id"])
        check_eq(one, listed[a["id"]], "GET by id equals the listed entry")
        for key in ("id", "name", "pid", "state", "exit_code", "exit_signal", "clients",
                    "bytes_out", "level", "cols", "rows", "created_ms", "command"):
            check(key in one, "field %s in %r" % (key, one))
        # The same sessions over the Unix socket.
        check_eq(sorted(e["id"] for e in d.ls_json()), sorted(listed), "`ptyhub ls` ids")
        call(d, "DELETE", "/api/sessions/%d" % a["id"])


def test_output_from_offset():
    with Daemon() as d:
        s = _create(d, argv=["sh", "-c", "stty raw; printf 'abcdefghij\\377\\000\\001'"])
        _wait_exited(d, s["id"])
        whole = b"abcdefghij\xff\x00\x01"
        resp = _output(d, s["id"])
        check_eq(resp.status, 200, "GET output")
        check_eq(resp.body, whole, "all the output, binary bytes included")
        check(resp.header("Content-Type").startswith("application/octet-stream"),
              "octet-stream: %r" % resp)
        check_eq((resp.header("X-Ptyhub-Start"), resp.header("X-Ptyhub-End"),
                  resp.header("X-Ptyhub-Offset")), ("0", "13", "0"), "X-Ptyhub-* headers")
        resp = _output(d, s["id"], "?from=3")
        check_eq(resp.body, whole[3:], "output from 3")
        check_eq(resp.header("X-Ptyhub-Offset"), "3", "X-Ptyhub-Offset from 3")
        resp = _output(d, s["id"], "?from=13")
        check_eq((resp.status, resp.body, resp.header("X-Ptyhub-Offset")), (200, b"", "13"),
                 "output from the end")
        for bad in ("?from=14", "?from=99999999999", "?from=-1", "?from=abc", "?from="):
            resp = _output(d, s["id"], bad)
            check_eq(_error_code(resp, 400), "bad_argument", "output%s" % bad)


def test_output_that_aged_out_starts_at_the_oldest_byte():
    with Daemon("--scrollback", "4K") as d:
        s = _create(d, argv=["sh", "-c", "stty raw; seq 1 3000"])
        _wait_exited(d, s["id"])
        full = b"".join(b"%d\n" % i for i in range(1, 3001))
        resp = _output(d, s["id"], "?from=0")
        start, end = int(resp.header("X-Ptyhub-Start")), int(resp.header("X-Ptyhub-End"))
        check_eq(end, len(full), "X-Ptyhub-End")
        check(0 < start < end, "only the tail is retained: start %d end %d" % (start, end))
        check_eq(resp.header("X-Ptyhub-Offset"), str(start), "X-Ptyhub-Offset is the start")
        check_eq(resp.body, full[start:], "the retained bytes, exactly")


def test_input_is_typed_and_echoed():
    with Daemon() as d:
        s = _create(d, argv=["cat"])
        with Http.to(d) as h:
            resp = h.request("POST", "/api/sessions/%d/input" % s["id"],
                             body=b"hello over http\n")
            check_eq((resp.status, resp.body), (204, b""), "POST input")
            check_eq(h.request("POST", "/api/sessions/%d/input" % s["id"], body=b"").status, 204,
                     "empty input")
        # The terminal echoes the line, then cat prints it.
        _output_when(d, s["id"], lambda out: out.count(b"hello over http\r\n") == 2,
                     "the typed line echoed and printed back")
        call(d, "DELETE", "/api/sessions/%d" % s["id"])


def test_large_input_to_a_slow_reader_is_delivered_whole():
    # A program that starts reading its input only after a while (longer than the
    # --header-timeout): the POST waits for it, then says 204, and every byte arrives.
    # One reactor thread, so that the connection is served where the session lives.
    n = 1 << 20
    with Daemon("--threads", "1", "--header-timeout", "500") as d:
        s = _create(d, argv=["sh", "-c", "stty raw -echo; printf R; "
                             "while [ ! -e go ]; do sleep 0.05; done; head -c %d | wc -c" % n],
                    cwd=d.dir)
        _output_when(d, s["id"], lambda out: out == b"R", "the session to be ready")
        with Http.to(d) as h:
            h.send(h.request_bytes("POST", "/api/sessions/%d/input" % s["id"], body=b"i" * n))
            # Not synchronization: the scenario is a reader slower than the header timeout.
            time.sleep(1.5)
            open(os.path.join(d.dir, "go"), "w").close()
            resp = h.read_response()
            check_eq((resp.status, resp.body), (204, b""), "POST of %d bytes of input" % n)
        _output_when(d, s["id"], lambda out: out.endswith(b"\n"), "wc's count")
        check_eq(_output(d, s["id"]).body, b"R%d\n" % n, "bytes the program read")


def test_large_inputs_are_delivered_whole():
    # Eight 1 MiB POSTs on one connection to a program that reads as fast as it can.
    n, count = 1 << 20, 8
    with Daemon("--header-timeout", "600000") as d:
        s = _create(d, argv=["sh", "-c", "stty raw -echo; printf R; head -c %d | wc -c"
                             % (n * count)])
        _output_when(d, s["id"], lambda out: out == b"R", "the session to be ready")
        with Http.to(d) as h:
            for i in range(count):
                resp = h.request("POST", "/api/sessions/%d/input" % s["id"],
                                 body=b"%c" % (65 + i) * n)
                check_eq(resp.status, 204, "POST %d of %d" % (i + 1, count))
        _output_when(d, s["id"], lambda out: out.endswith(b"\n"), "wc's count")
        check_eq(_output(d, s["id"]).body, b"R%d\n" % (n * count), "bytes the program read")


def test_input_to_an_exited_session_is_409():
    with Daemon() as d:
        s = _create(d, argv=["true"])
        _wait_exited(d, s["id"])
        resp = call(d, "POST", "/api/sessions/%d/input" % s["id"], b"late\n")
        check_eq(_error_code(resp, 409), "exited", "input to an exited session")


def test_resize_is_seen_by_the_program():
    with Daemon() as d:
        s = _create(d, argv=["sh", "-c", "stty -echo; echo ready; "
                             "while read l; do stty size; done"], cols=80, rows=24)
        _output_when(d, s["id"], lambda out: b"ready" in out, "the session to be ready")
        resp = call(d, "POST", "/api/sessions/%d/resize" % s["id"], {"cols": 132, "rows": 43})
        check_eq((resp.status, resp.body), (204, b""), "POST resize")
        check_eq(call(d, "POST", "/api/sessions/%d/input" % s["id"], b"\n").status, 204, "input")
        _output_when(d, s["id"], lambda out: b"43 132\r\n" in out, "stty size to say 43 132")
        one = _session(d, s["id"])
        check_eq((one["cols"], one["rows"]), (132, 43), "the listed size")
        for bad in ({"cols": 0, "rows": 10}, {"cols": 10}, {"cols": "10", "rows": 10},
                    {"cols": 10001, "rows": 10}, b"nonsense"):
            resp = call(d, "POST", "/api/sessions/%d/resize" % s["id"], bad)
            check_eq(_error_code(resp, 400), "bad_argument", "resize %r" % (bad,))
        check_eq(call(d, "DELETE", "/api/sessions/%d" % s["id"]).status, 202, "DELETE")


def test_delete_running_then_exited():
    with Daemon() as d:
        s = _create(d, argv=["sleep", "1000"])
        resp = call(d, "DELETE", "/api/sessions/%d" % s["id"])
        check_eq(resp.status, 202, "DELETE of a running session: %r" % resp)
        check_eq(resp.json(), {"state": "killing"}, "its body")
        wait_for(lambda: s["id"] not in _ids(d), "the killed session to leave the list")
        wait_for(lambda: not pid_alive(s["pid"]), "its process %d to be gone" % s["pid"])
        check_eq(_error_code(get(d, "/api/sessions/%d" % s["id"]), 404), "no_such_session",
                 "GET of the deleted session")

        e = _create(d, argv=["sh", "-c", "printf bye"])
        _wait_exited(d, e["id"])
        resp = call(d, "DELETE", "/api/sessions/%d" % e["id"])
        check_eq((resp.status, resp.body), (204, b""), "DELETE of an exited session")
        check_eq(_ids(d), [], "nothing listed")
        check_eq(_error_code(call(d, "DELETE", "/api/sessions/%d" % e["id"]), 404),
                 "no_such_session", "a second DELETE")


def test_unknown_ids_are_404():
    with Daemon() as d:
        for method, path, body in (("GET", "/api/sessions/999", b""),
                                   ("DELETE", "/api/sessions/999", b""),
                                   ("GET", "/api/sessions/999/output", b""),
                                   ("POST", "/api/sessions/999/input", b"x"),
                                   ("POST", "/api/sessions/999/resize", b'{"cols":1,"rows":1}')):
            check_eq(_error_code(call(d, method, path, body), 404), "no_such_session",
                     "%s %s" % (method, path))
        for path in ("/api/sessions/0", "/api/sessions/99999999999", "/api/sessions/x1"):
            check_eq(_error_code(get(d, path), 404), "not_found", "GET %s" % path)


def test_wrong_methods_are_405():
    with Daemon() as d:
        s = _create(d, argv=["sleep", "100"])
        sid = s["id"]
        for method, path in (("PUT", "/api/sessions"), ("DELETE", "/api/sessions"),
                             ("POST", "/api/sessions/%d" % sid),
                             ("PUT", "/api/sessions/%d" % sid),
                             ("POST", "/api/sessions/%d/output" % sid),
                             ("GET", "/api/sessions/%d/input" % sid),
                             ("GET", "/api/sessions/%d/resize" % sid),
                             ("GET", "/api/login"), ("POST", "/metrics"),
                             ("POST", "/healthz")):
            with Http.to(d) as h:
                resp = h.request(method, path, body=b"{}" if method in ("POST", "PUT") else b"")
                check_eq(_error_code(resp, 405), "method_not_allowed", "%s %s" % (method, path))
                # An ordinary answer: the connection is still served.
                check_eq(h.request("GET", "/healthz").status, 200, "/healthz after the 405")
        check_eq(_session(d, sid)["state"], "running", "the session is untouched")
        call(d, "DELETE", "/api/sessions/%d" % sid)


def test_sessions_on_every_reactor_from_one_connection():
    # Sessions live on the reactor of the connection that created them; requests for
    # them on one keep-alive connection are handed between reactors, in order.
    with Daemon("--threads", "4") as d:
        sids = []
        for i in range(8):
            s = _create(d, argv=["sh", "-c", "stty -echo; printf 'session %d\\n'; cat" % i])
            sids.append(s["id"])
        for i, sid in enumerate(sids):
            _output_when(d, sid, lambda out, i=i: out == b"session %d\r\n" % i,
                         "session %d's greeting" % sid)
        with Http.to(d) as h:
            for rnd in range(2):
                for i, sid in enumerate(sids):
                    resp = h.request("POST", "/api/sessions/%d/input" % sid,
                                     body=b"round %d to %d\n" % (rnd, sid))
                    check_eq(resp.status, 204, "input to session %d" % sid)
                    resp = h.request("GET", "/api/sessions/%d/output?from=0" % sid)
                    check_eq(resp.status, 200, "output of session %d" % sid)
                    check(resp.body.startswith(b"session %d\r\n" % i),
                          "session %d's own output: %r" % (sid, resp.body))
            # All of it pipelined in one send: the answers come back in order.
            reqs = b"".join(h.request_bytes("GET", "/api/sessions/%d" % sid) for sid in sids)
            reqs += b"".join(h.request_bytes("GET", "/api/sessions/%d/output?from=0" % sid)
                             for sid in sids)
            h.send(reqs)
            for sid in sids:
                check_eq(h.read_response().json()["id"], sid, "pipelined GET by id, in order")
            for i, sid in enumerate(sids):
                resp = h.read_response()
                check(resp.body.startswith(b"session %d\r\n" % i),
                      "pipelined output %d in order: %r" % (i, resp.body[:40]))
        for sid in sids:
            _output_when(d, sid, lambda out, sid=sid: out.endswith(b"round 1 to %d\r\n" % sid),
                         "both rounds of input echoed by cat in session %d" % sid)
            check_eq(call(d, "DELETE", "/api/sessions/%d" % sid).status, 202, "DELETE %d" % sid)
        wait_for(lambda: _ids(d) == [], "every session gone")


# name{labels} value, as the Prometheus text format 0.0.4 has it.
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*",?)*\})? '
                    r'-?[0-9.eE+]+$')


def test_metrics_prometheus_text():
    with Daemon() as d:
        run = _create(d, argv=["sleep", "100"])
        ex = _create(d, argv=["true"])
        _wait_exited(d, ex["id"])
        resp = get(d, "/metrics")
        check_eq(resp.status, 200, "GET /metrics")
        check(resp.header("Content-Type").startswith("text/plain; version=0.0.4"),
              "the Prometheus content type: %r" % resp.header("Content-Type"))
        text = resp.body.decode()
        check(text.endswith("\n"), "ends with a newline")
        samples, typed = {}, set()
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                typed.add(line.split()[2])
            elif line.startswith("# HELP ") or not line:
                continue
            else:
                check(SAMPLE.match(line), "a valid sample line: %r" % line)
                name_labels, value = line.rsplit(" ", 1)
                samples[name_labels] = float(value)
        for name in {re.match(r"[^{ ]+", k).group(0) for k in samples}:
            check(name in typed, "metric %s has a # TYPE line" % name)
        check_eq(samples.get('ptyhub_sessions{state="running"}'), 1.0, "running sessions")
        check_eq(samples.get('ptyhub_sessions{state="exited"}'), 1.0, "exited sessions")
        reactor = [k for k in samples if k.startswith("ptyhub_reactor_")]
        check(reactor, "ptyhub_reactor_* samples in:\n%s" % text)
        backends = set(re.findall(r'backend="([^"]*)"', "\n".join(reactor)))
        check(backends and backends <= {"uring", "epoll"}, "backend labels: %r" % backends)
        check(any(k.startswith("ptyhub_reactor_turns_total") and v > 0
                  for k, v in samples.items()), "reactors have turned")
        call(d, "DELETE", "/api/sessions/%d" % run["id"])
