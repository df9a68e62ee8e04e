"""test_http_auth: who may talk to the daemon over HTTP. With --token the API, /metrics
and the WebSocket need the token (bearer header, or the HttpOnly cookie POST /api/login
sets) while the page and /healthz do not; a non-loopback --listen needs a token or an
explicit --no-auth; WebSocket upgrades from another site's page are refused unless its
origin is allowed, and so are requests from another site's page that would start or
type into a session."""

import os
import subprocess
import tempfile

import wire
from harness import Daemon, check, check_eq, ptyhub_bin, TIMEOUT
from wsclient import HandshakeRefused, Http, WsConn, call, get

TOKEN = "s3cretTOKEN"
BEARER = [("Authorization", "Bearer " + TOKEN)]


def _code(resp):
    try:
        return resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def _ws_status(d, headers=()):
    """The status of a WebSocket upgrade (101 after a HELLO/WELCOME round trip)."""
    try:
        c = WsConn.connect(d, headers=headers)
    except HandshakeRefused as e:
        return e.response.status
    with c:
        c.handshake()
    return 101


def test_token_guards_the_api_but_not_the_page_or_healthz():
    with Daemon("--token", TOKEN) as d:
        for path in ("/api/sessions", "/metrics", "/api/sessions/1"):
            resp = get(d, path)
            check_eq((resp.status, _code(resp)), (401, "unauthorized"), "GET %s without token"
                     % path)
        for hdrs, what in (([("Authorization", "Bearer wrong-token")], "a wrong bearer"),
                           ([("Authorization", "Bearer " + TOKEN + "x")], "a longer token"),
                           ([("Authorization", "Bearer " + TOKEN[:-1])], "a prefix"),
                           ([("Authorization", "Basic " + TOKEN)], "another scheme"),
                           ([("Cookie", "ptyhub_token=nope")], "a wrong cookie")):
            resp = get(d, "/api/sessions", hdrs)
            check_eq(resp.status, 401, "GET /api/sessions with %s" % what)
        check_eq(call(d, "POST", "/api/sessions", {"argv": ["true"]}).status, 401,
                 "POST /api/sessions without token")
        check_eq(d.ls_json(), [], "nothing was started without the token")

        resp = get(d, "/api/sessions", BEARER)
        check_eq((resp.status, resp.json()), (200, {"sessions": []}), "GET with the bearer")
        check_eq(get(d, "/metrics", BEARER).status, 200, "/metrics with the bearer")
        resp = call(d, "POST", "/api/sessions", {"argv": ["true"]}, headers=BEARER)
        check_eq(resp.status, 201, "POST /api/sessions with the bearer")

        resp = get(d, "/healthz")
        check_eq((resp.status, resp.body), (200, b"ok\n"), "/healthz without token")
        page = get(d, "/")
        check_eq(page.status, 200, "the page without token")
        check(page.header("Content-Type").startswith("text/html"), "the page is HTML: %r" % page)

        check_eq(_ws_status(d), 401, "WebSocket upgrade without the token")
        check_eq(_ws_status(d, BEARER), 101, "WebSocket upgrade with the bearer")


def test_login_sets_a_cookie_that_works_for_api_and_websocket():
    with Daemon("--token", TOKEN) as d:
        resp = call(d, "POST", "/api/login", {"token": "wrong-token"})
        check_eq((resp.status, _code(resp)), (401, "unauthorized"), "login with a wrong token")
        check_eq(resp.headers_named("Set-Cookie"), [], "no cookie for a wrong token")
        check_eq(call(d, "POST", "/api/login", b"nonsense").status, 400, "login with no JSON")

        resp = call(d, "POST", "/api/login", {"token": TOKEN})
        check_eq(resp.status, 204, "login with the token: %r" % resp)
        cookies = resp.headers_named("Set-Cookie")
        check_eq(len(cookies), 1, "one Set-Cookie: %r" % cookies)
        parts = [p.strip() for p in cookies[0].split(";")]
        check_eq(parts[0], "ptyhub_token=" + TOKEN, "the cookie's value")
        attrs = {p.split("=")[0].lower(): p for p in parts[1:]}
        check("httponly" in attrs, "HttpOnly in %r" % cookies[0])
        check_eq(attrs.get("samesite"), "SameSite=Strict", "SameSite in %r" % cookies[0])

        cookie = [("Cookie", "theme=dark; " + parts[0] + "; other=1")]
        resp = get(d, "/api/sessions", cookie)
        check_eq((resp.status, resp.json()), (200, {"sessions": []}), "GET with the cookie")
        c = WsConn.connect(d, headers=cookie + [("Origin", "http://%s" % d.http_addr)])
        with c:
            welcome = c.handshake()
            check_eq(welcome.version, 1, "WELCOME over the cookie-authenticated WebSocket")
            sid = c.create(["sh", "-c", "printf cookie-ok"])
            c.attach(sid, from_kind=wire.FROM_OFFSET, from_=0)
            out = b""
            while True:
                m = c.recv(TIMEOUT)
                if m.type == wire.OUTPUT:
                    out += m.data
                elif m.type == wire.EXIT:
                    break
            check_eq(out, b"cookie-ok", "a session's output over that WebSocket")


def _serve_argv(tmp, *extra):
    return [ptyhub_bin(), "serve", "--socket", os.path.join(tmp, "sock"), "--no-session"] + \
        list(extra) + os.environ.get("PTYHUB_SERVE_ARGS", "").split()


def test_non_loopback_listen_needs_a_token_or_no_auth():
    env = dict(os.environ)
    env.pop("PTYHUB_TOKEN", None)
    with tempfile.TemporaryDirectory(prefix="ptyhub-it-") as tmp:
        p = subprocess.run(_serve_argv(tmp, "--listen", "0.0.0.0:0"), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp,
                           timeout=TIMEOUT)
        err = p.stderr.decode(errors="replace")
        check_eq(p.returncode, 2, "exit status of a token-less --listen 0.0.0.0:0 (stderr %r)"
                 % err)
        check("--listen" in err and "--token" in err, "the error names --listen and --token: %r"
              % err)
        check(not os.path.exists(os.path.join(tmp, "sock")), "no socket was created")
    for extra in (["--no-auth"], ["--token", TOKEN]):
        with Daemon("--listen", "0.0.0.0:0", *extra, env={"PTYHUB_TOKEN": ""}) as d:
            check(d.http_addr.startswith("0.0.0.0:"), "READY names 0.0.0.0: %r" % d.http_addr)
            with Http("127.0.0.1", d.http_port) as h:
                resp = h.request("GET", "/healthz")
                check_eq((resp.status, resp.body), (200, b"ok\n"), "/healthz with %r" % extra)
                resp = h.request("GET", "/api/sessions")
                check_eq(resp.status, 401 if "--token" in extra else 200,
                         "/api/sessions without a token with %r" % extra)


def test_websocket_origin_must_match_host():
    with Daemon() as d:
        same = "http://%s" % d.http_addr
        check_eq(_ws_status(d, [("Origin", "http://evil.example")]), 403,
                 "upgrade from http://evil.example")
        for origin in ("http://evil.example:%d" % d.http_port, "null",
                       "http://%s.evil.example" % d.http_addr, "http://127.0.0.1"):
            check_eq(_ws_status(d, [("Origin", origin)]), 403, "upgrade from %s" % origin)
        check_eq(_ws_status(d, [("Origin", same)]), 101, "upgrade from %s (= Host)" % same)
        check_eq(_ws_status(d), 101, "upgrade without Origin (not a browser page)")
        try:
            WsConn.connect(d, headers=[("Origin", "http://evil.example")])
            raise AssertionError("upgrade from evil.example accepted")
        except HandshakeRefused as e:
            check_eq(_code(e.response), "forbidden_origin", "the 403's code")
            check("--allow-origin" in e.response.json()["error"]["message"],
                  "the 403 says how to allow an origin: %r" % e.response.body)
        check_eq(d.ls_json(), [], "no session")


def test_allow_origin_admits_that_origin_only():
    with Daemon("--allow-origin", "http://other.example") as d:
        check_eq(_ws_status(d, [("Origin", "http://other.example")]), 101,
                 "upgrade from the allowed origin")
        check_eq(_ws_status(d, [("Origin", "http://%s" % d.http_addr)]), 101,
                 "upgrade from the daemon's own page")
        check_eq(_ws_status(d, [("Origin", "http://evil.example")]), 403,
                 "upgrade from another origin")
        check_eq(_ws_status(d, [("Origin", "https://other.example")]), 403,
                 "the allowed host under another scheme")


def test_another_sites_page_cannot_start_or_type_into_sessions():
    # A page on evil.example can POST to http://127.0.0.1:PORT without a CORS preflight
    # (a "simple" request: text/plain body); the browser adds its Origin. With no token
    # on loopback, Origin is the only thing that tells such a request from the user's.
    with Daemon() as d:
        evil = [("Origin", "http://evil.example"), ("Content-Type", "text/plain")]
        resp = call(d, "POST", "/api/sessions", b'{"argv":["touch","pwned"]}', headers=evil)
        check_eq(resp.status, 403, "POST /api/sessions from another site's page: %r" % resp)
        check_eq(d.ls_json(), [], "nothing was started by another site's page")
        sid = d.new("cat")
        resp = call(d, "POST", "/api/sessions/%d/input" % sid, b"echo typed-by-evil\n",
                    headers=evil)
        check_eq(resp.status, 403, "POST input from another site's page: %r" % resp)
        # The daemon's own page may.
        own = [("Origin", "http://%s" % d.http_addr)]
        check_eq(call(d, "POST", "/api/sessions/%d/input" % sid, b"x", headers=own).status, 204,
                 "POST input from the daemon's own page")
        d.ok("kill", str(sid))
