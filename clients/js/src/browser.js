// browser: the WebSocket transport of browsers (and of any runtime with a standard
// WebSocket). One binary message is one body; the subprotocol is `ptyhub.v1`. The
// token travels as the page's cookie: login(token) trades it for one (POST /api/login).

import { Client } from './client.js';
import { ConnectionClosed } from './errors.js';

export const SUBPROTOCOL = 'ptyhub.v1';

// The /ws URL of the server this page came from.
export function defaultUrl(loc = globalThis.location) {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
}

export class BrowserWebSocketTransport {
  constructor(url = defaultUrl(), WebSocketImpl = globalThis.WebSocket) {
    this.url = url;
    this.ws = new WebSocketImpl(url, [SUBPROTOCOL]);
    this.ws.binaryType = 'arraybuffer';
    this.queue = []; // bodies sent before the socket opened
    this.closed = new Promise((resolve) => {
      this._resolveClosed = resolve;
    });
  }

  start(onBody, onClose) {
    const ws = this.ws;
    let ended = false;
    const end = (err) => {
      if (ended) return;
      ended = true;
      onClose(err);
      this._resolveClosed();
    };
    ws.onopen = () => {
      for (const b of this.queue) ws.send(b);
      this.queue = [];
    };
    ws.onmessage = (ev) => {
      if (ev.data instanceof ArrayBuffer) onBody(new Uint8Array(ev.data));
    };
    ws.onclose = (ev) => end(new ConnectionClosed(
      `WebSocket closed: ${ev.code}${ev.reason ? ` ${ev.reason}` : ''}`));
    ws.onerror = () => {}; // onclose follows
  }

  send(body) {
    if (this.ws.readyState === 0) this.queue.push(body);
    else if (this.ws.readyState === 1) this.ws.send(body);
  }

  close() {
    this.ws.close(1000);
  }
}

// Connects a Client over WebSocket (default: this page's server). opts as Client's.
export function connectBrowser(url = defaultUrl(), opts = {}) {
  return Client.connect(new BrowserWebSocketTransport(url, opts.WebSocket), opts);
}

// Trades a token for the HttpOnly session cookie the WebSocket upgrade then carries.
export async function login(token, base = '') {
  const res = await fetch(`${base}/api/login`, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }),
  });
  if (!res.ok) throw new Error(`login refused: HTTP ${res.status}`);
}
