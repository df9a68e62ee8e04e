// wire: the ptyhub session protocol (docs/protocol.md) as the browser speaks it.
// Over WebSocket one binary message is one body: a type byte, then the payload, all
// integers little-endian, no length prefix. Pure functions, no I/O.

export const T = {
  HELLO: 0x01, CREATE: 0x02, ATTACH: 0x03, DETACH: 0x04, INPUT: 0x05, RESIZE: 0x06,
  SIGNAL: 0x07, LIST: 0x08, ACK: 0x09, REMOVE: 0x0a,
  WELCOME: 0x81, CREATED: 0x82, ATTACHED: 0x83, OK: 0x84, LIST_REPLY: 0x85,
  OUTPUT: 0x90, EXIT: 0x91, GAP: 0x92, ERROR: 0xe0,
};

export const HELLO_F_ACK = 1;
export const HELLO_F_HOLD = 2; // version 2: hold the program by what was rendered
export const MODE_INTERACTIVE = 0;
export const MODE_READ_ONLY = 1;
export const FROM_ABSOLUTE = 0;

export const ERR_NAMES = {
  1: 'bad_frame', 2: 'too_large', 3: 'unknown_type', 4: 'version', 5: 'not_hello',
  6: 'no_such_session', 7: 'spawn_failed', 8: 'bad_argument', 9: 'limit',
  10: 'not_attached', 11: 'read_only', 12: 'exited', 13: 'internal', 14: 'auth',
};

const MAGIC = 0x48595450; // "PTYH" little-endian

// Allocates a body of n bytes with its type byte set; returns [bytes, view].
function body(type, n) {
  const b = new Uint8Array(n);
  b[0] = type;
  return [b, new DataView(b.buffer)];
}

// HELLO: version 1, flags (bit 0: this client paces output with ACK).
// HELLO with the highest version the page speaks (2); the server answers with the
// highest common one. Unknown server messages (RESIZED, ...) decode to null and are
// ignored.
export function encodeHello(flags) {
  const [b, v] = body(T.HELLO, 9);
  v.setUint32(1, MAGIC, true);
  v.setUint16(5, 2, true);
  v.setUint16(7, flags, true);
  return b;
}

// ATTACH from an absolute offset; cols/rows 0 keep the session's size.
export function encodeAttach(req, sid, mode, from, cols, rows) {
  const [b, v] = body(T.ATTACH, 25);
  v.setUint32(1, req, true);
  v.setUint32(5, sid, true);
  b[9] = mode;
  b[10] = FROM_ABSOLUTE;
  v.setBigUint64(13, BigInt(from), true);
  v.setUint16(21, cols, true);
  v.setUint16(23, rows, true);
  return b;
}

// DETACH: stop receiving a session's output on this connection.
export function encodeDetach(req, sid) {
  const [b, v] = body(T.DETACH, 9);
  v.setUint32(1, req, true);
  v.setUint32(5, sid, true);
  return b;
}

// INPUT: bytes to write to the session's PTY.
export function encodeInput(sid, bytes) {
  const [b, v] = body(T.INPUT, 5 + bytes.length);
  v.setUint32(1, sid, true);
  b.set(bytes, 5);
  return b;
}

// RESIZE: the session's new size.
export function encodeResize(sid, cols, rows) {
  const [b, v] = body(T.RESIZE, 9);
  v.setUint32(1, sid, true);
  v.setUint16(5, cols, true);
  v.setUint16(7, rows, true);
  return b;
}

// ACK: every output byte below offset has been rendered.
export function encodeAck(sid, offset) {
  const [b, v] = body(T.ACK, 13);
  v.setUint32(1, sid, true);
  v.setBigUint64(5, BigInt(offset), true);
  return b;
}

const dec = new TextDecoder();

// Offsets are u64 on the wire; a JS number is exact up to 2^53 bytes (8 PiB).
function u64(v, off) {
  return Number(v.getBigUint64(off, true));
}

// Decodes one server body (an ArrayBuffer). Returns an object with a `type` name, or
// null for a message this client does not know or cannot read (ignored, as the
// protocol asks of clients).
export function decode(buf) {
  const b = new Uint8Array(buf);
  if (b.length < 1) return null;
  const v = new DataView(buf);
  const need = (n) => b.length >= n;
  switch (b[0]) {
    case T.WELCOME:
      if (!need(9)) return null;
      return { type: 'welcome', version: v.getUint16(1, true), pid: v.getUint32(5, true),
        serverVersion: dec.decode(b.subarray(9)) };
    case T.ATTACHED:
      if (!need(30)) return null;
      return { type: 'attached', req: v.getUint32(1, true), sid: v.getUint32(5, true),
        start: u64(v, 9), end: u64(v, 17), cols: v.getUint16(25, true),
        rows: v.getUint16(27, true), exited: b[29] === 1 };
    case T.OK:
      if (!need(5)) return null;
      return { type: 'ok', req: v.getUint32(1, true) };
    case T.OUTPUT:
      if (!need(13)) return null;
      return { type: 'output', sid: v.getUint32(1, true), offset: u64(v, 5),
        data: b.subarray(13) };
    case T.EXIT:
      if (!need(21)) return null;
      return { type: 'exit', sid: v.getUint32(1, true), end: u64(v, 5),
        code: v.getInt32(13, true), signal: v.getInt32(17, true) };
    case T.GAP:
      if (!need(21)) return null;
      return { type: 'gap', sid: v.getUint32(1, true), from: u64(v, 5), to: u64(v, 13) };
    case T.ERROR: {
      if (!need(11)) return null;
      const code = v.getUint16(9, true);
      return { type: 'error', req: v.getUint32(1, true), sid: v.getUint32(5, true), code,
        name: ERR_NAMES[code] || `error ${code}`, message: dec.decode(b.subarray(11)) };
    }
    default:
      return null;
  }
}
