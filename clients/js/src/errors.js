// errors: what the client throws. PtyhubError carries the protocol's stable code.

import { ERROR_NAMES, ERRORS_CLOSING } from './codec.js';

// An ERROR from the server: `code` is the protocol's number, `codeName` its name
// ("no_such_session", "limit", ...), `req` the request it answers (0 when none) and
// `sid` the session concerned (0 when none).
export class PtyhubError extends Error {
  constructor(code, message, req = 0, sid = 0) {
    const codeName = ERROR_NAMES[code] || `error_${code}`;
    super(`${codeName} (${code}): ${message}`);
    this.name = 'PtyhubError';
    this.code = code;
    this.codeName = codeName;
    this.serverMessage = message;
    this.req = req;
    this.sid = sid;
  }

  // True for the errors after which the server closes the connection.
  get closes() {
    return ERRORS_CLOSING.includes(this.code);
  }
}

// The connection ended: end of stream, a WebSocket close, or a closing ERROR (`cause`).
export class ConnectionClosed extends Error {
  constructor(message = 'connection closed', cause = undefined) {
    super(message, cause ? { cause } : undefined);
    this.name = 'ConnectionClosed';
  }
}

// The server sent something the protocol does not allow (a malformed body, OUTPUT that
// does not continue where the last one ended, a WRITE acknowledged out of order).
export class ProtocolViolation extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProtocolViolation';
  }
}

// outputUntilExit() met a GAP: bytes [from, to) of the session are gone.
export class LostOutput extends Error {
  constructor(sid, from, to) {
    super(`session ${sid}: bytes [${from}, ${to}) were not retained`);
    this.name = 'LostOutput';
    this.sid = sid;
    this.from = from;
    this.to = to;
  }
}

// A feature the server did not announce in WELCOME's flags.
export class Unsupported extends Error {
  constructor(message) {
    super(message);
    this.name = 'Unsupported';
  }
}

// The protocol codes by name, for `if (e.code === codes.LIMIT)`.
export const codes = Object.freeze({
  BAD_FRAME: 1, TOO_LARGE: 2, UNKNOWN_TYPE: 3, VERSION: 4, NOT_HELLO: 5,
  NO_SUCH_SESSION: 6, SPAWN_FAILED: 7, BAD_ARGUMENT: 8, LIMIT: 9, NOT_ATTACHED: 10,
  READ_ONLY: 11, EXITED: 12, INTERNAL: 13, AUTH: 14, UNAVAILABLE: 15,
});
