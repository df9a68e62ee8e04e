"""test_http: the daemon's HTTP/1.1 server as a client sees it: /healthz, keep-alive and
pipelining, and the bounded failures — a malformed request (400), a head over 16 KiB
(431), a body over 1 MiB (413), a head that never completes (408), chunked bodies (501),
unknown paths (404) — each answered with a JSON error and a closed connection, while
another client on the same daemon goes on being served. --max-clients turns the next
connection away with 503 (HTTP) or ERROR limit (Unix socket)."""

import socket

import wire
import wsclient
from harness import Daemon, check, check_eq, wait_for, TIMEOUT
from wsclient import Http


def _check_healthz(resp, what="GET /healthz"):
    check_eq((resp.status, resp.body), (200, b"ok\n"), what)


def _check_error(resp, status, code):
    """resp is status with a JSON body {"error":{"code":code,"message":"..."}}."""
    check_eq(resp.status, status, "status of %r" % resp)
    check((resp.header("Content-Type") or "").startswith("application/json"),
          "JSON content type in %r" % resp)
    doc = resp.json()
    check(isinstance(doc, dict) and set(doc) == {"error"} and isinstance(doc["error"], dict),
          "error body shape: %r" % doc)
    err = doc["error"]
    check_eq(err.get("code"), code, "error code")
    check(isinstance(err.get("message"), str) and err["message"],
          "a message for people in %r" % doc)
    return err


class Bystander:
    """Another client, connected before the trouble starts, that must keep being served
    on its own keep-alive connection and on new ones."""

    def __init__(self, d):
        self.d = d
        self.h = Http.to(d)
        self.check("before")

    def check(self, when):
        _check_healthz(self.h.request("GET", "/healthz"), "bystander's /healthz %s" % when)
        _check_healthz(wsclient.get(self.d, "/healthz"), "a new client's /healthz %s" % when)

    def close(self):
        self.h.close()


def _head_lines(d):
    """The Host line a client of d sends (a literal loopback address: the daemon refuses
    other names on loopback) and its token, for requests written out by hand."""
    return b"Host: %s\r\n" % d.http_addr.encode() + d.auth_header_bytes()


def _refused(d, raw, status, code):
    """Sends raw on a new connection: the answer is status with a JSON error code and
    Connection: close, then the daemon closes; a bystander is served before and after."""
    b = Bystander(d)
    with Http.to(d) as h:
        h.send(raw)
        b.check("while another client sends a bad request")
        resp = h.read_response()
        _check_error(resp, status, code)
        check_eq(resp.header("Connection"), "close", "Connection header of the %d" % status)
        check(h.closed_by_server(), "the daemon closes the connection after %d" % status)
    b.check("after")
    b.close()


def test_healthz():
    with Daemon() as d:
        resp = wsclient.get(d, "/healthz")
        _check_healthz(resp)
        check(resp.header("Content-Type").startswith("text/plain"), "text/plain: %r" % resp)
        with Http.to(d) as h:
            check_eq(h.request("HEAD", "/healthz").status, 200, "HEAD /healthz")


def test_keep_alive_two_requests_on_one_connection():
    with Daemon() as d:
        with Http.to(d) as h:
            _check_healthz(h.request("GET", "/healthz"), "first request")
            check_eq(h.buf, bytearray(), "nothing after the first response")
            resp = h.request("GET", "/api/sessions")
            check_eq((resp.status, resp.json()), (200, {"sessions": []}),
                     "second request on the same connection")


def test_pipelined_requests_answered_in_order():
    with Daemon() as d:
        with Http.to(d) as h:
            h.send(h.request_bytes("GET", "/healthz") + h.request_bytes("GET", "/no/such/page")
                   + h.request_bytes("POST", "/api/sessions", body=b'{"argv":[]}'))
            _check_healthz(h.read_response(), "first pipelined response")
            _check_error(h.read_response(), 404, "not_found")
            _check_error(h.read_response(), 400, "bad_argument")
            # Three at once again, the last one asking to close.
            h.send(h.request_bytes("GET", "/api/sessions") + h.request_bytes("GET", "/healthz")
                   + h.request_bytes("GET", "/healthz", [("Connection", "close")]))
            check_eq(h.read_response().json(), {"sessions": []}, "fourth response")
            _check_healthz(h.read_response(), "fifth response")
            last = h.read_response()
            _check_healthz(last, "sixth response")
            check_eq(last.header("Connection"), "close", "Connection header of the last")
            check(h.closed_by_server(), "closed after the request that said Connection: close")


def test_malformed_request_line_400_and_close():
    with Daemon() as d:
        host = d.http_addr.encode()
        for raw in (b"GARBAGE\r\n\r\n",
                    b"GET  /healthz HTTP/1.1\r\nHost: %s\r\n\r\n" % host,
                    b"GET /healthz HTTP/1.1\nHost: %s\n\n" % host,
                    b"GET /he\x01lthz HTTP/1.1\r\nHost: %s\r\n\r\n" % host):
            _refused(d, raw, 400, "bad_request")


def test_head_over_16k_is_431():
    with Daemon() as d:
        big = (b"GET /healthz HTTP/1.1\r\n" + _head_lines(d) + b"X-Big: " + b"a" * 20480
               + b"\r\n\r\n")
        _refused(d, big, 431, "headers_too_large")
        many = (b"GET /healthz HTTP/1.1\r\n" + _head_lines(d)
                + b"".join(b"X-H%d: v\r\n" % i for i in range(80)) + b"\r\n")
        _refused(d, many, 431, "headers_too_large")


def test_body_over_1mib_is_413():
    with Daemon() as d:
        _refused(d, b"POST /api/sessions HTTP/1.1\r\n" + _head_lines(d)
                 + b"Content-Length: 2000000\r\nContent-Type: application/json\r\n\r\n",
                 413, "body_too_large")


def test_head_that_never_completes_is_408():
    with Daemon("--header-timeout", "500") as d:
        b = Bystander(d)
        with Http.to(d) as h:
            h.send(b"GET /healthz HTTP/1.1\r\n" + _head_lines(d))  # ... and nothing more
            b.check("while another client's head is incomplete")
            resp = h.read_response()
            _check_error(resp, 408, "request_timeout")
            check(h.closed_by_server(), "the daemon closes the connection after 408")
        b.check("after the 408")
        b.close()


def test_unknown_path_is_404_json():
    with Daemon() as d:
        for path in ("/nope", "/api/nope", "/api/sessions/abc", "/api/sessions/1/nope"):
            with Http.to(d) as h:
                _check_error(h.request("GET", path), 404, "not_found")
                # A 404 is an ordinary answer: the connection stays usable.
                _check_healthz(h.request("GET", "/healthz"), "/healthz after a 404")


def test_chunked_body_is_501():
    with Daemon() as d:
        _refused(d, b"POST /api/sessions HTTP/1.1\r\n" + _head_lines(d)
                 + b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
                    b"14\r\n{\"argv\":[\"true\"]} \r\n0\r\n\r\n", 501, "not_implemented")
        # Nothing was started by it.
        check_eq(wsclient.get(d, "/api/sessions").json(), {"sessions": []}, "sessions")


def test_max_clients_turns_the_next_one_away():
    with Daemon("--max-clients", "3") as d:
        held = []
        for i in range(3):
            h = Http.to(d)
            _check_healthz(h.request("GET", "/healthz"), "client %d of 3" % (i + 1))
            held.append(h)
        # The 4th TCP client is answered without having to ask.
        with Http.to(d) as h:
            resp = h.read_response()
            _check_error(resp, 503, "limit")
            check("--max-clients" in resp.json()["error"]["message"],
                  "the message names --max-clients: %r" % resp.body)
            check(h.closed_by_server(), "the 4th connection is closed")
        # Each class of client has its own budget: HTTP clients cannot lock the owner's
        # CLI out of the Unix socket, which takes three clients of its own, then says
        # ERROR limit to the fourth.
        unix = [wire.Conn.unix(d.sock, timeout=TIMEOUT) for _ in range(3)]
        with wire.Conn.unix(d.sock, handshake=False, timeout=TIMEOUT) as c:
            m = c.recv()
            check(m.type == wire.ERROR and m.code == wire.ERR_LIMIT,
                  "a Unix socket client over the limit gets ERROR limit, got %r" % m)
            check(wire.closed_by_peer(c), "and is closed")
        for c in unix:
            c.close()
        # The three are still served.
        for i, h in enumerate(held):
            _check_healthz(h.request("GET", "/healthz"), "held client %d" % (i + 1))
        # One leaves: a new client gets its place.
        held.pop().close()

        def admitted():
            try:
                with Http.to(d) as h:
                    return h.request("GET", "/healthz").status == 200
            except (wire.Closed, ConnectionError, socket.timeout):
                return False
        wait_for(admitted, "a new client to be admitted once one of the three left")
        for h in held:
            h.close()
