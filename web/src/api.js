// api: the JSON REST calls the page makes (GET/POST/DELETE under /api/). A 401 answer
// raises AuthError so the page can ask for a token; the token itself only travels in
// the login request and comes back as an HttpOnly cookie that JS never sees.

export class AuthError extends Error {}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

// Sends one request; returns the parsed JSON body (or null when there is none).
async function call(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 401) throw new AuthError('a token is required');
  const text = await res.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (!res.ok) {
    const e = json && json.error ? json.error : {};
    throw new ApiError(res.status, e.code, e.message || text || `HTTP ${res.status}`);
  }
  return json;
}

// Lists every session.
export async function listSessions() {
  const r = await call('GET', '/api/sessions');
  return (r && r.sessions) || [];
}

// Creates a session from a request object ({argv, name, cols, rows, env}).
export function createSession(req) {
  return call('POST', '/api/sessions', req);
}

// Kills a running session or forgets an exited one.
export function deleteSession(id) {
  return call('DELETE', `/api/sessions/${encodeURIComponent(id)}`);
}

// The text on a session's screen now (needs terminal state on the server).
export async function screenText(id) {
  const res = await fetch(`/api/sessions/${encodeURIComponent(id)}/screen`,
    { credentials: 'same-origin' });
  if (res.status === 401) throw new AuthError('a token is required');
  if (!res.ok) throw new ApiError(res.status, undefined, `HTTP ${res.status}`);
  return res.text();
}

// Trades a token for the session cookie.
export function login(token) {
  return call('POST', '/api/login', { token });
}
