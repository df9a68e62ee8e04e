// ptyhub: the client library, for browsers and Node. Node's transports (Unix socket,
// `ptyhub stdio` child, WebSocket without a global WebSocket) are in `ptyhub/node`.

export * as codec from './codec.js';
export {
  VERSION, WELCOME_F_WRITE, WELCOME_F_RESIZED, WELCOME_F_TERMINAL, WELCOME_F_OPEN,
  WELCOME_F_EVENTS, WELCOME_F_PASTE, EV, EVENTS_ALL, VT_MODE,
} from './codec.js';
export {
  PtyhubError, ConnectionClosed, ProtocolViolation, LostOutput, Unsupported, codes,
} from './errors.js';
export { Client, Session, EventStream, normalizePaste } from './client.js';
export { BrowserWebSocketTransport, connectBrowser, login, SUBPROTOCOL } from './browser.js';
