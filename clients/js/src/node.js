// node: Node's transports. A Unix socket and a `ptyhub stdio` child carry bodies with a
// u32 length in front; WebSocket (RFC 6455, written here: Node 20 has no WebSocket
// client) carries one body per binary message. No npm dependencies.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { Client } from './client.js';
import { DecodeError, FrameSplitter, MAX_BODY, frame } from './codec.js';
import { ConnectionClosed, ProtocolViolation, PtyhubError } from './errors.js';

export * from './index.js';

// $PTYHUB_SOCKET, else $XDG_RUNTIME_DIR/ptyhub/sock, else /tmp/ptyhub-$UID/sock.
export function defaultSocketPath() {
  if (process.env.PTYHUB_SOCKET) return process.env.PTYHUB_SOCKET;
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, 'ptyhub', 'sock');
  return `/tmp/ptyhub-${os.userInfo().uid}/sock`;
}

// The token in the `token` file beside the socket, or null.
export function defaultToken(socketPath = defaultSocketPath()) {
  try {
    return readFileSync(path.join(path.dirname(socketPath), 'token'), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

// Bodies with a length prefix over a Node readable and writable (a socket, or pipes).
// closeFn ends the underlying thing; `closed` resolves when it has ended.
export class StreamTransport {
  constructor(readable, writable, closeFn) {
    this.r = readable;
    this.w = writable;
    this.closeFn = closeFn;
    this.split = new FrameSplitter();
    this.dead = false;
    this.closed = new Promise((resolve) => {
      this._resolveClosed = resolve;
    });
  }

  start(onBody, onClose) {
    let ended = false;
    this._end = (err) => {
      if (ended) return;
      ended = true;
      this.dead = true;
      onClose(err);
    };
    this.r.on('data', (chunk) => {
      if (this.dead) return;
      this.split.feed(chunk);
      try {
        let b;
        while (!this.dead && (b = this.split.next()) !== null) onBody(b);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        this._end(new ConnectionClosed(`protocol violation: ${e.message}`,
          new ProtocolViolation(e.message)));
        this.close();
      }
    });
    this.r.on('end', () => this._end(this.split.buffered
      ? new ConnectionClosed('the server closed the connection mid-frame') : null));
    this.r.on('close', () => this._end(null));
    this.r.on('error', (e) => this._end(new ConnectionClosed(`read: ${e.message}`, e)));
    this.w.on('error', (e) => this._end(new ConnectionClosed(`write: ${e.message}`, e)));
  }

  send(body) {
    if (this.dead) throw new ConnectionClosed('the connection is closed');
    this.w.write(frame(body));
  }

  // Bytes waiting in the outgoing buffer (what the server has not taken yet).
  get writableLength() {
    return this.w.writableLength;
  }

  close() {
    this.dead = true;
    if (this._closeCalled) return;
    this._closeCalled = true;
    Promise.resolve(this.closeFn()).then(() => {
      if (this._end) this._end(null);
      this._resolveClosed();
    });
  }
}

// A Unix socket connection (default: defaultSocketPath()).
export function unixTransport(socketPath = defaultSocketPath()) {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    sock.once('error', reject);
    sock.once('connect', () => {
      sock.off('error', reject);
      sock.setNoDelay?.(true);
      resolve(new StreamTransport(sock, sock, () => new Promise((done) => {
        if (sock.destroyed) {
          done();
          return;
        }
        sock.once('close', done);
        sock.end();
        setTimeout(() => sock.destroy(), 2000).unref();
      })));
    });
  });
}

// Runs `ptyhub stdio ...args` as a child and talks over its stdin/stdout. Closing ends
// stdin, which ends every session; the child is waited for (SIGKILL after grace ms).
// opts: ptyhub (the program, default "ptyhub"), args, stderr ('inherit', 'ignore', ...),
// grace (default 10000).
export function stdioTransport(opts = {}) {
  const env = { ...process.env };
  delete env.PTYHUB_SOCKET;
  const child = spawn(opts.ptyhub || 'ptyhub', ['stdio', ...(opts.args || [])], {
    stdio: ['pipe', 'pipe', opts.stderr ?? 'inherit'], env,
  });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (e) => resolve({ code: null, signal: null, error: e }));
  });
  const t = new StreamTransport(child.stdout, child.stdin, async () => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.grace ?? 10000);
    await exited;
    clearTimeout(timer);
  });
  t.child = child;
  t.exited = exited;
  child.stdin.on('error', () => {}); // EPIPE: the read side reports the end
  return t;
}

// ---- WebSocket (RFC 6455), client side -------------------------------------------------

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_CONT = 0;
const OP_TEXT = 1;
const OP_BINARY = 2;
const OP_CLOSE = 8;
const OP_PING = 9;
const OP_PONG = 10;

// One masked, final client frame.
export function wsFrame(opcode, payload) {
  const n = payload.length;
  const hlen = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(hlen + 4 + n);
  out[0] = 0x80 | opcode;
  if (n < 126) {
    out[1] = 0x80 | n;
  } else if (n < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  const mask = randomBytes(4);
  mask.copy(out, hlen);
  const p = hlen + 4;
  for (let i = 0; i < n; i++) out[p + i] = payload[i] ^ mask[i & 3];
  return out;
}

// Reassembles server frames into messages: feed() chunks; next() returns
// {kind: 'message'|'ping'|'close', data} or null when more bytes are needed.
export class WsReader {
  constructor(maxMessage = MAX_BODY) {
    this.max = maxMessage;
    this.chunks = [];
    this.len = 0;
    this.frag = null;
    this.fragLen = 0;
  }

  feed(chunk) {
    if (chunk.length) {
      this.chunks.push(chunk);
      this.len += chunk.length;
    }
  }

  // The first n buffered bytes as one Buffer (joined only when they span chunks).
  peek(n) {
    if (this.chunks[0].length < n) {
      this.chunks = [Buffer.concat(this.chunks)];
    }
    return this.chunks[0];
  }

  consume(n) {
    let left = n;
    while (left > 0) {
      const c = this.chunks[0];
      if (c.length <= left) {
        left -= c.length;
        this.chunks.shift();
      } else {
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.len -= n;
  }

  next() {
    for (;;) {
      if (this.len < 2) return null;
      let h = this.peek(Math.min(this.len, 14));
      const fin = (h[0] & 0x80) !== 0;
      const op = h[0] & 0x0f;
      const masked = (h[1] & 0x80) !== 0;
      let n = h[1] & 0x7f;
      let pos = 2;
      if (n === 126) {
        if (this.len < 4) return null;
        h = this.peek(4);
        n = h.readUInt16BE(2);
        pos = 4;
      } else if (n === 127) {
        if (this.len < 10) return null;
        h = this.peek(10);
        const big = h.readBigUInt64BE(2);
        if (big > BigInt(this.max + 16)) throw new ProtocolViolation(`WebSocket frame of ${big} bytes`);
        n = Number(big);
        pos = 10;
      }
      if (n > this.max + 16) throw new ProtocolViolation(`WebSocket frame of ${n} bytes`);
      const mlen = masked ? 4 : 0;
      if (this.len < pos + mlen + n) return null;
      const all = this.peek(pos + mlen + n);
      let payload = all.subarray(pos + mlen, pos + mlen + n);
      if (masked) {
        const mask = all.subarray(pos, pos + 4);
        payload = Buffer.from(payload);
        for (let i = 0; i < n; i++) payload[i] ^= mask[i & 3];
      }
      this.consume(pos + mlen + n);
      if (op === OP_PING) return { kind: 'ping', data: Buffer.from(payload) };
      if (op === OP_PONG) continue;
      if (op === OP_CLOSE) return { kind: 'close', data: Buffer.from(payload) };
      if (op === OP_BINARY || op === OP_TEXT) {
        if (this.frag) throw new ProtocolViolation('WebSocket: a new message inside a fragmented one');
        if (op === OP_TEXT) throw new ProtocolViolation('WebSocket: a text message from the server');
        if (fin) return { kind: 'message', data: payload };
        this.frag = [payload];
        this.fragLen = n;
      } else if (op === OP_CONT) {
        if (!this.frag) throw new ProtocolViolation('WebSocket: a continuation without a message');
        this.frag.push(payload);
        this.fragLen += n;
        if (this.fragLen > this.max) {
          throw new ProtocolViolation(`WebSocket message over ${this.max} bytes`);
        }
        if (fin) {
          const data = Buffer.concat(this.frag);
          this.frag = null;
          return { kind: 'message', data };
        }
      } else {
        throw new ProtocolViolation(`WebSocket: unknown opcode ${op}`);
      }
    }
  }
}

function closeReason(data) {
  if (data.length >= 2) {
    return `WebSocket closed by the server: ${data.readUInt16BE(0)} ${data.subarray(2).toString()}`;
  }
  return 'WebSocket closed by the server';
}

// The protocol over WebSocket to ws://HOST:PORT/ws. The token goes in Authorization:
// Bearer; by default it is read from the token file beside the (default) socket.
export class NodeWebSocketTransport {
  constructor(sock, rest) {
    this.sock = sock;
    this.reader = new WsReader();
    this.reader.feed(rest);
    this.dead = false;
    this.sentClose = false;
    this.closed = new Promise((resolve) => {
      this._resolveClosed = resolve;
    });
    sock.once('close', () => this._resolveClosed());
  }

  static open(url, opts = {}) {
    const u = new URL(url);
    if (u.protocol !== 'ws:') throw new Error(`only ws:// URLs are supported, not ${url}`);
    const token = opts.token !== undefined ? opts.token : defaultToken(opts.socketPath);
    const port = Number(u.port || 80);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ host, port });
      const key = randomBytes(16).toString('base64');
      const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
      let head = Buffer.alloc(0);
      const fail = (e) => {
        sock.destroy();
        reject(e);
      };
      sock.once('error', fail);
      sock.once('connect', () => {
        sock.setNoDelay(true);
        const lines = [`GET ${u.pathname || '/ws'}${u.search} HTTP/1.1`,
          `Host: ${u.host}`, 'Upgrade: websocket', 'Connection: Upgrade',
          `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13',
          'Sec-WebSocket-Protocol: ptyhub.v1'];
        if (token) lines.push(`Authorization: Bearer ${token}`);
        if (opts.origin) lines.push(`Origin: ${opts.origin}`);
        sock.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
      const onData = (chunk) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 65536) fail(new ProtocolViolation('WebSocket upgrade: response head too long'));
          return;
        }
        sock.off('data', onData);
        sock.off('end', onEnd);
        sock.off('error', fail);
        const text = head.subarray(0, end).toString('latin1');
        const [status, ...hdrLines] = text.split('\r\n');
        const code = status.split(' ')[1];
        if (code !== '101') {
          sock.destroy();
          if (code === '401') {
            reject(new PtyhubError(14, `WebSocket upgrade refused: ${status} (missing or wrong token)`));
          } else {
            reject(new ConnectionClosed(`WebSocket upgrade refused: ${status}`));
          }
          return;
        }
        const hdrs = {};
        for (const l of hdrLines) {
          const i = l.indexOf(':');
          if (i > 0) hdrs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        if (hdrs['sec-websocket-accept'] !== accept) {
          fail(new ProtocolViolation('WebSocket upgrade: wrong Sec-WebSocket-Accept'));
          return;
        }
        sock.pause();
        resolve(new NodeWebSocketTransport(sock, head.subarray(end + 4)));
      };
      const onEnd = () => fail(new ConnectionClosed('the server closed the connection during the WebSocket upgrade'));
      sock.on('data', onData);
      sock.once('end', onEnd);
    });
  }

  start(onBody, onClose) {
    let ended = false;
    const end = (err) => {
      if (ended) return;
      ended = true;
      this.dead = true;
      onClose(err);
    };
    this._end = end;
    const drain = () => {
      try {
        let m;
        while (!this.dead && (m = this.reader.next()) !== null) {
          if (m.kind === 'message') {
            onBody(m.data);
          } else if (m.kind === 'ping') {
            this.sock.write(wsFrame(OP_PONG, m.data));
          } else {
            if (!this.sentClose) {
              this.sentClose = true;
              this.sock.write(wsFrame(OP_CLOSE, m.data.subarray(0, 2)));
            }
            end(new ConnectionClosed(closeReason(m.data)));
            this.sock.end();
            return;
          }
        }
      } catch (e) {
        end(new ConnectionClosed(`protocol violation: ${e.message}`, e));
        this.sock.destroy();
      }
    };
    this.sock.on('data', (chunk) => {
      this.reader.feed(chunk);
      drain();
    });
    this.sock.on('end', () => end(null));
    this.sock.on('close', () => end(null));
    this.sock.on('error', (e) => end(new ConnectionClosed(e.message, e)));
    drain();
    this.sock.resume();
  }

  send(body) {
    if (this.dead) throw new ConnectionClosed('the connection is closed');
    this.sock.write(wsFrame(OP_BINARY, body));
  }

  close() {
    if (!this.sentClose && !this.sock.destroyed) {
      this.sentClose = true;
      this.sock.write(wsFrame(OP_CLOSE, Buffer.from([0x03, 0xe8])));
    }
    this.dead = true;
    this.sock.end();
    setTimeout(() => this.sock.destroy(), 2000).unref();
    this.closed.then(() => this._end?.(null));
  }
}

// ---- connecting -------------------------------------------------------------------------

// A Client over the Unix socket. opts: as Client's.
export async function connectUnix(socketPath = defaultSocketPath(), opts = {}) {
  return Client.connect(await unixTransport(socketPath), opts);
}

// A Client over a `ptyhub stdio` child (see stdioTransport for opts, plus Client's).
// client.transport.child is the child process.
export function spawnStdio(opts = {}) {
  return Client.connect(stdioTransport(opts), opts);
}

// A Client over WebSocket, e.g. connectWebSocket('ws://127.0.0.1:7681/ws').
// opts: token (default: the token file beside the socket), socketPath, origin, Client's.
export async function connectWebSocket(url, opts = {}) {
  return Client.connect(await NodeWebSocketTransport.open(url, opts), opts);
}
