// Browser tests of the ptyhub web UI, in Debian's headless Chromium driven by
// playwright-core. run.sh starts the daemon and passes its URL in PTYHUB_E2E_URL, and
// the path of its token file in PTYHUB_E2E_TOKEN_FILE: pages are opened as the daemon
// tells people to, with ?token=TOKEN (the page trades it for a cookie and drops it from
// the address).
// Every wait is for a condition with a deadline; no test sleeps to synchronise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

const BASE = process.env.PTYHUB_E2E_URL;
const TOKEN_URL = process.env.PTYHUB_E2E_TOKEN_URL;
const TOKEN = process.env.PTYHUB_E2E_TOKEN;
const TOKEN_FILE = process.env.PTYHUB_E2E_TOKEN_FILE;
const ART = process.env.PTYHUB_E2E_ARTIFACTS || 'tests/e2e/artifacts';
const CHROMIUM = process.env.PTYHUB_CHROMIUM || '/usr/bin/chromium';
const MiB = 1024 * 1024;
const T = { timeout: 120000 }; // per test: a hung test fails instead of hanging CI

mkdirSync(ART, { recursive: true });
let browser;

before(async () => {
  assert.ok(BASE, 'PTYHUB_E2E_URL is not set: run tests/e2e/run.sh');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
});

// The main daemon's token from its token file ("TOKEN\n"), or null when it wrote none
// (an explicit --no-auth, or a server that does not make up a token).
function pageToken() {
  if (!TOKEN_FILE || !existsSync(TOKEN_FILE)) return null;
  return readFileSync(TOKEN_FILE, 'utf8').trim() || null;
}

// path with token=TOKEN added to its query (after any other parameters).
function withToken(path, token) {
  const u = new URL(path, 'http://x');
  u.searchParams.append('token', token);
  return `${u.pathname}${u.search}${u.hash}`;
}

// A unique marker, and the command that prints it: `echo AB''CD` prints ABCD, so the
// echoed command line never matches the marker line itself.
function marker(tag) {
  const m = `${tag}_${randomBytes(4).toString('hex')}`;
  return { text: m, cmd: `echo ${m.slice(0, 2)}''${m.slice(2)}` };
}

// Polls fn() until it returns a truthy value; throws with `what` and the last value
// after timeout ms.
async function waitFor(fn, what, timeout = 15000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The terminal's whole buffer (scrollback and screen) as lines, right-trimmed.
function termLines(page) {
  return page.evaluate(() => {
    const t = window.ptyhub && window.ptyhub.term;
    if (!t) return [];
    const b = t.buffer.active;
    const out = [];
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
    return out;
  });
}

// How many lines of the terminal are `line`, or end with it after a prompt: input typed
// ahead is echoed early, so the program's answer can follow the next prompt ("# hello").
async function countLine(page, line) {
  return (await termLines(page)).filter((l) => l === line || /^\S*[#$>%] /.test(l) && l.endsWith(` ${line}`)).length;
}

// The page's view of its attachment: { sid, offset, rendered, attached, exit }.
function ph(page) {
  return page.evaluate(() => ({
    sid: window.ptyhub.sid, offset: window.ptyhub.offset, rendered: window.ptyhub.rendered,
    attached: window.ptyhub.attached, exit: window.ptyhub.exit,
  }));
}

// Runs body(h) with a helper that opens pages in fresh browser contexts, records page
// errors, and at the end (pass or fail) saves a screenshot and the terminal text of
// every page under artifacts/, then closes them.
async function withPages(t, body) {
  const pages = [];
  const contexts = [];
  const slug = t.name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
  const h = {
    // Opens base+path in a new context; waits for the WebSocket to be connected.
    // consoleErrors: whether errors in the console are expected (a 401 is logged).
    // token: added as ?token= (default: the main daemon's token file's, for BASE only).
    // allow404: a 404 the browser logs for a request is not an error (a session removed
    // while the page still had a request about it in flight).
    async open(path, { base = BASE, onPage, waitConnected = true, consoleErrors = false,
      allow404 = false, token = base === BASE ? pageToken() : null } = {}) {
      if (token) path = withToken(path, token);
      const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
      contexts.push(context);
      const page = await context.newPage();
      page.errors = [];
      page.on('pageerror', (e) => page.errors.push(String(e)));
      page.on('console', (m) => {
        if (m.type() !== 'error' || consoleErrors) return;
        if (allow404 && /Failed to load resource: .*status of 404/.test(m.text())) return;
        page.errors.push(`console: ${m.text()}`);
      });
      pages.push(page);
      if (onPage) onPage(page);
      await page.goto(base + path);
      if (waitConnected) await waitConn(page, 'connected');
      return page;
    },
  };
  let failed = false;
  try {
    await body(h);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    for (let i = 0; i < pages.length; i++) {
      const name = `${slug}${pages.length > 1 ? `-${i + 1}` : ''}`;
      try {
        await pages[i].screenshot({ path: join(ART, `${name}.png`) });
        if (failed) {
          const state = await ph(pages[i]).catch(() => null);
          writeFileSync(join(ART, `${name}.txt`), `url: ${pages[i].url()}\nstate: ${JSON.stringify(state)}\n`
            + `errors: ${JSON.stringify(pages[i].errors)}\n---\n${(await termLines(pages[i])).join('\n')}\n`);
        }
      } catch {
        // a page that crashed has nothing to show
      }
    }
    for (const c of contexts) await c.close().catch(() => {});
  }
  for (const p of pages) assert.deepEqual(p.errors, [], 'the page threw or logged errors');
}

// Waits for the connection badge to read `state`.
function waitConn(page, state, timeout = 15000) {
  return waitFor(async () => (await page.textContent('[data-testid=conn-state]')) === state,
    `conn-state "${state}"`, timeout);
}

// Waits until the page is attached to a session; returns its id.
async function waitAttached(page, sid) {
  const s = await waitFor(async () => {
    const p = await ph(page);
    return p.attached && (!sid || p.sid === sid) ? p : null;
  }, `attached to session ${sid || '(any)'}`);
  return s.sid;
}

// Starts a session from the form; waits until the page has attached to it.
async function createSession(page, command, name) {
  const before = (await ph(page)).sid;
  await page.fill('[data-testid=new-command]', command);
  if (name) await page.fill('[data-testid=new-name]', name);
  await page.click('[data-testid=new-submit]');
  const sid = await waitFor(async () => {
    const p = await ph(page);
    return p.sid && p.sid !== before && p.attached ? p.sid : 0;
  }, `a new session for "${command}"`);
  return sid;
}

// Types a line into the terminal (as keystrokes) and presses Enter.
async function typeLine(page, text) {
  await page.evaluate(() => window.ptyhub.term.focus());
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

// Waits until `line` appears as a whole line in the terminal.
function waitLine(page, line, timeout = 15000) {
  return waitFor(async () => (await countLine(page, line)) > 0, `the line "${line}"`, timeout);
}

// The REST view of one session.
async function apiSession(page, sid) {
  return page.evaluate(async (id) => {
    const r = await fetch(`/api/sessions/${id}`);
    return r.ok ? r.json() : { status: r.status };
  }, sid);
}

// Waits until the page has rendered every byte the session has written.
async function waitCaughtUp(page, sid) {
  return waitFor(async () => {
    const s = await apiSession(page, sid);
    const p = await ph(page);
    return s.bytes_out !== undefined && p.rendered === s.bytes_out && p.offset === s.bytes_out;
  }, `session ${sid} fully rendered`);
}

test('starts a session, types into it and sees the output', T, async (t) => {
  await withPages(t, async (h) => {
    const page = await h.open('/');
    const sid = await createSession(page, 'sh');
    assert.equal(new URL(page.url()).pathname, `/s/${sid}`);
    await page.locator(`[data-testid=session-list] [data-testid=session-${sid}]`).waitFor();
    await typeLine(page, 'echo hello');
    await waitLine(page, 'hello');
    // The terminal fills its box: far more than the 80x24 default on a 1100x700 page.
    const size = await page.evaluate(() => [window.ptyhub.term.cols, window.ptyhub.term.rows]);
    assert.ok(size[0] > 80 && size[1] > 24, `terminal size ${size}`);
    await waitFor(async () => {
      const s = await apiSession(page, sid);
      return s.cols === size[0] && s.rows === size[1];
    }, `the session to take the terminal's size ${size}`);
  });
});

test('a reload replays the history exactly once', T, async (t) => {
  await withPages(t, async (h) => {
    const page = await h.open('/');
    const sid = await createSession(page, 'sh');
    // Type once the prompt is there: keys typed ahead are echoed before the prompt, and
    // the echoed command line would then be split around it.
    await waitFor(async () => (await termLines(page)).some((l) => /^\S*[#$>%] ?$/.test(l)),
      'the shell prompt');
    const m = marker('RELOAD');
    await typeLine(page, m.cmd);
    await waitLine(page, m.text);
    await waitCaughtUp(page, sid);
    await page.reload();
    await waitConn(page, 'connected');
    await waitAttached(page, sid);
    await waitCaughtUp(page, sid);
    assert.equal(await countLine(page, m.text), 1, 'marker output lines after reload');
    const cmdLines = (await termLines(page)).filter((l) => l.includes(m.cmd)).length;
    assert.equal(cmdLines, 1, 'echoed command lines after reload');
  });
});

test('two pages on one session see each other\'s typing', T, async (t) => {
  await withPages(t, async (h) => {
    const a = await h.open('/');
    const sid = await createSession(a, 'sh');
    const b = await h.open(`/s/${sid}`);
    await waitAttached(b, sid);
    const m1 = marker('FROM_A');
    await typeLine(a, m1.cmd);
    await waitLine(a, m1.text);
    await waitLine(b, m1.text);
    const m2 = marker('FROM_B');
    await typeLine(b, m2.cmd);
    await waitLine(b, m2.text);
    await waitLine(a, m2.text);
    await waitCaughtUp(a, sid);
    await waitCaughtUp(b, sid);
    for (const p of [a, b]) {
      assert.equal(await countLine(p, m1.text), 1);
      assert.equal(await countLine(p, m2.text), 1);
    }
  });
});

test('exit shows the exit banner with the status', T, async (t) => {
  await withPages(t, async (h) => {
    const page = await h.open('/');
    const sid = await createSession(page, 'sh');
    await typeLine(page, 'exit 7');
    const banner = page.locator('[data-testid=exit-banner]');
    await banner.waitFor({ state: 'visible', timeout: 15000 });
    assert.match(await banner.textContent(), /\b7\b/);
    assert.deepEqual((await ph(page)).exit, { code: 7, signal: 0 });
    const row = page.locator(`[data-testid=session-${sid}]`);
    await waitFor(async () => /code 7/.test(await row.textContent()), 'the list to show exit code 7');
  });
});

test('a flood keeps the page responsive and Ctrl-C stops it', T, async (t) => {
  await withPages(t, async (h) => {
    const sent = [];
    const page = await h.open('/', {
      onPage: (p) => p.on('websocket', (ws) => ws.on('framesent', (f) => {
        if (typeof f.payload !== 'string') sent.push(Buffer.from(f.payload));
      })),
    });
    const sid = await createSession(page, 'sh');
    await typeLine(page, 'yes | head -c 200M');
    await waitFor(async () => (await ph(page)).rendered > 2 * MiB, 'the flood to be under way');
    // The page answers within 2 s while flooding, keeps rendering, and never holds much
    // more than the server's window (2 MiB) written but not yet rendered.
    let prev = (await ph(page)).rendered;
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      const p = await ph(page);
      const dt = Date.now() - t0;
      assert.ok(dt < 2000, `page.evaluate took ${dt} ms during the flood`);
      assert.ok(p.offset - p.rendered <= 3 * MiB,
        `${p.offset - p.rendered} bytes handed to xterm.js but not rendered (window 2 MiB)`);
      await waitFor(async () => (await ph(page)).rendered > prev, 'rendering to progress', 10000);
      prev = (await ph(page)).rendered;
    }
    await page.screenshot({ path: join(ART, 'flood-while-flooding.png') });
    await page.evaluate(() => window.ptyhub.term.focus());
    const t0 = Date.now();
    await page.keyboard.press('Control+C');
    const m = marker('FLOOD_DONE');
    await typeLine(page, m.cmd);
    await waitLine(page, m.text, 60000);
    t.diagnostic(`Ctrl-C to marker: ${Date.now() - t0} ms`);
    const s = await apiSession(page, sid);
    assert.ok(s.bytes_out < 200 * MiB, `the flood ran to the end (${s.bytes_out} bytes): Ctrl-C did not stop it`);
    // HELLO (version 3, the client library's) asked for ACK pacing and the render hold
    // (flags 3); ACKs never
    // went backwards, came at least every 64 KiB (plus one OUTPUT), and the last one
    // covers everything once rendering caught up.
    assert.deepEqual([...sent[0]], [0x01, 0x50, 0x54, 0x59, 0x48, 3, 0, 3, 0], 'HELLO version 3 with flags 3');
    await waitCaughtUp(page, sid);
    const end = (await ph(page)).rendered;
    const acks = () => sent.filter((b) => b[0] === 0x09).map((b) => Number(b.readBigUInt64LE(5)));
    await waitFor(() => acks().at(-1) === end, `an ACK of the final offset ${end}`);
    const a = acks();
    for (let i = 1; i < a.length; i++) {
      assert.ok(a[i] >= a[i - 1], `ACK went backwards: ${a[i - 1]} then ${a[i]}`);
      assert.ok(a[i] - a[i - 1] <= 64 * 1024 + MiB, `ACK gap of ${a[i] - a[i - 1]} bytes`);
    }
  });
});

test('a view-only page shows a badge and sends no input', T, async (t) => {
  await withPages(t, async (h) => {
    const a = await h.open('/');
    const sid = await createSession(a, 'sh');
    const sent = [];
    const v = await h.open(`/s/${sid}?view=1`, {
      onPage: (p) => p.on('websocket', (ws) => ws.on('framesent', (f) => {
        if (typeof f.payload !== 'string') sent.push(Buffer.from(f.payload));
      })),
    });
    await waitAttached(v, sid);
    const badge = v.locator('[data-testid=view-only]');
    await badge.waitFor({ state: 'visible' });
    assert.match(await badge.textContent(), /view only/i);
    const leak = marker('LEAK');
    await typeLine(v, leak.cmd);
    const ok = marker('VIEWER_SEES');
    await typeLine(a, ok.cmd);
    await waitLine(a, ok.text);
    await waitLine(v, ok.text);
    await waitCaughtUp(a, sid);
    const attach = sent.filter((b) => b[0] === 0x03);
    assert.ok(attach.length >= 1, 'the viewer sent no ATTACH');
    assert.ok(attach.every((b) => b[9] === 1), 'the viewer attached interactively');
    assert.deepEqual(sent.filter((b) => b[0] === 0x05 || b[0] === 0x06).map((b) => b[0]), [],
      'the viewer sent INPUT or RESIZE');
    for (const p of [a, v]) {
      const text = (await termLines(p)).join('\n');
      assert.ok(!text.includes(leak.text) && !text.includes(leak.cmd), 'viewer keystrokes reached the session');
    }
  });
});

test('reconnects after the WebSocket drops, with nothing lost or repeated', T, async (t) => {
  await withPages(t, async (h) => {
    const page = await h.open('/');
    const sid = await createSession(page, 'sh');
    const m1 = marker('BEFORE');
    await typeLine(page, m1.cmd);
    await waitLine(page, m1.text);
    // Output that arrives while the connection is down, and input typed meanwhile.
    const m2 = marker('DURING');
    const m3 = marker('TYPED_OFFLINE');
    await typeLine(page, `sleep 1; ${m2.cmd}`);
    // Record every state the badge shows, so a short "reconnecting" is not missed.
    await page.evaluate(() => {
      const badge = document.querySelector('[data-testid=conn-state]');
      window.connStates = [];
      new MutationObserver(() => window.connStates.push(badge.textContent))
        .observe(badge, { childList: true, characterData: true, subtree: true });
      window.ptyhub.dropConnection();
    });
    await waitFor(() => page.evaluate(() => window.connStates.includes('reconnecting')),
      'conn-state "reconnecting"');
    await typeLine(page, m3.cmd);
    await waitConn(page, 'connected');
    await waitLine(page, m2.text);
    await waitLine(page, m3.text);
    await waitCaughtUp(page, sid);
    for (const m of [m1, m2, m3]) assert.equal(await countLine(page, m.text), 1, m.text);
  });
});

test('the URL follows the session; Back returns; Kill ends it', T, async (t) => {
  await withPages(t, async (h) => {
    // A killed session is removed once it exits: the list's Remove click (below) or a
    // preview request may meet it gone (404), which the page treats as done.
    const page = await h.open('/', { allow404: true });
    const a = await createSession(page, 'sh', 'first');
    const ma = marker('IN_A');
    await typeLine(page, ma.cmd);
    await waitLine(page, ma.text);
    const b = await createSession(page, 'sh', 'second');
    assert.equal(new URL(page.url()).pathname, `/s/${b}`);
    await page.goBack();
    await waitAttached(page, a);
    assert.equal(new URL(page.url()).pathname, `/s/${a}`);
    await waitLine(page, ma.text);
    await page.click(`[data-testid=session-${b}] .open`);
    await waitAttached(page, b);
    assert.equal(new URL(page.url()).pathname, `/s/${b}`);
    await page.click(`[data-testid=session-${b}] button.del`);
    const banner = page.locator('[data-testid=exit-banner]');
    await banner.waitFor({ state: 'visible', timeout: 15000 });
    assert.match(await banner.textContent(), /signal/);
    // DELETE of a running session removes it once it has exited; if it is still
    // listed, Remove forgets it.
    const row = page.locator(`[data-testid=session-${b}]`);
    await waitFor(async () => (await row.count()) === 0 || /Remove/.test(await row.textContent()),
      'the killed session to be removed or to offer Remove');
    if (await row.count()) await page.click(`[data-testid=session-${b}] button.del`);
    await row.waitFor({ state: 'detached' });
  });
});

test('output split inside a UTF-8 character is shown intact', T, async (t) => {
  await withPages(t, async (h) => {
    const page = await h.open('/');
    // The euro sign (e2 82 ac) in two writes, far enough apart to be two OUTPUTs.
    const sid = await createSession(page,
      "printf '\\342\\202'; sleep 0.3; printf '\\254 euro\\n'; exec sleep 600", 'utf8-split');
    await waitLine(page, '€ euro');
    const row = page.locator(`[data-testid=session-${sid}]`);
    await waitFor(async () => /utf8-split/.test(await row.textContent()), 'the name in the list');
  });
});

test('a server with a token asks for it, then works', { ...T, skip: !TOKEN_URL && 'no daemon with a token (PTYHUB_E2E_TOKEN_URL)' }, async (t) => {
  assert.notEqual(TOKEN_URL, 'none', 'the daemon with a token did not start (see run.sh output)');
  await withPages(t, async (h) => {
    const page = await h.open('/', { base: TOKEN_URL, waitConnected: false, consoleErrors: true });
    const form = page.locator('[data-testid=login-form]');
    await form.waitFor({ state: 'visible' });
    await page.fill('[data-testid=login-token]', 'wrong-token');
    await page.click('[data-testid=login-submit]');
    await waitFor(async () => /not accepted/.test(await page.textContent('#login-error')), 'a refusal');
    await page.fill('[data-testid=login-token]', TOKEN);
    await page.click('[data-testid=login-submit]');
    await form.waitFor({ state: 'hidden' });
    await waitConn(page, 'connected');
    const sid = await createSession(page, 'sh');
    await typeLine(page, 'echo authed');
    await waitLine(page, 'authed');
    const leaks = await page.evaluate((tok) => document.cookie.includes(tok)
      || JSON.stringify(localStorage).includes(tok) || JSON.stringify(sessionStorage).includes(tok), TOKEN);
    assert.equal(leaks, false, 'the token is readable from JS');
    assert.ok(sid > 0);
  });
});

// The daemon and token for the ?token= tests: the main daemon's made-up token when it
// wrote one, else the daemon started with an explicit token.
function tokenTarget() {
  const tok = pageToken();
  if (tok) return { base: BASE, token: tok };
  if (TOKEN_URL && TOKEN_URL !== 'none' && TOKEN) return { base: TOKEN_URL, token: TOKEN };
  return null;
}

test('a ?token= address logs in, leaves the address bar and the page works', { ...T, skip: !tokenTarget() && 'no daemon with a token' }, async (t) => {
  const { base, token } = tokenTarget();
  await withPages(t, async (h) => {
    // Every request the page makes after the navigation itself: the token may travel
    // only in the body of POST /api/login.
    const reqs = [];
    const record = (p) => p.on('request', (r) => reqs.push({
      url: r.url(), method: r.method(), headers: r.headers(), body: r.postData() || '',
      nav: r.isNavigationRequest() && r.frame() === p.mainFrame(),
    }));
    const page = await h.open('/', { base, token, onPage: record });
    assert.equal(page.url(), `${base}/`, 'the address after load');
    assert.ok(!(await page.evaluate(() => location.href)).includes(token), 'token in location.href');
    assert.ok(!(await page.evaluate(() => location.href)).includes('token='), 'token= in location.href');
    const sid = await createSession(page, 'sh');
    const m = marker('TOKEN_PAGE');
    await typeLine(page, m.cmd);
    await waitLine(page, m.text);
    assert.equal(new URL(page.url()).pathname, `/s/${sid}`);
    assert.ok(!page.url().includes(token), 'token in the address after creating a session');

    // A view-only page of that session, opened with the token: view=1 stays.
    const v = await h.open(`/s/${sid}?view=1`, { base, token, onPage: record });
    assert.equal(v.url(), `${base}/s/${sid}?view=1`, 'the viewer\'s address after load');
    await waitAttached(v, sid);
    await v.locator('[data-testid=view-only]').waitFor({ state: 'visible' });
    await waitLine(v, m.text);

    const logins = reqs.filter((r) => r.method === 'POST' && new URL(r.url).pathname === '/api/login');
    assert.equal(logins.length, 2, 'one login per page');
    for (const r of logins) assert.deepEqual(JSON.parse(r.body), { token }, 'the login body');
    const leaks = reqs.filter((r) => !r.nav && !(r.method === 'POST' && new URL(r.url).pathname === '/api/login')
      && (r.url.includes(token) || Object.entries(r.headers).some(([k, v]) => k !== 'cookie' && v.includes(token)) || r.body.includes(token)));
    assert.deepEqual(leaks.map((r) => `${r.method} ${r.url}`), [], 'requests carrying the token');
    const readable = await page.evaluate((tok) => document.cookie.includes(tok)
      || JSON.stringify(localStorage).includes(tok) || JSON.stringify(sessionStorage).includes(tok), token);
    assert.equal(readable, false, 'the token is readable from JS');
    // The entry with the token was replaced, not kept behind the current one.
    await v.goBack();
    assert.ok(!v.url().includes(token), `Back leads to ${v.url()}`);
  });
});

test('a wrong ?token= shows the token form and leaves the address bar', { ...T, skip: !tokenTarget() && 'no daemon with a token' }, async (t) => {
  const { base, token } = tokenTarget();
  await withPages(t, async (h) => {
    const page = await h.open('/?view=1', { base, token: 'wrong-token', waitConnected: false, consoleErrors: true });
    const form = page.locator('[data-testid=login-form]');
    await form.waitFor({ state: 'visible' });
    await waitFor(async () => /not accepted/.test(await page.textContent('#login-error')), 'a refusal');
    assert.equal(page.url(), `${base}/?view=1`, 'the address after a refused token');
    await page.fill('[data-testid=login-token]', token);
    await page.click('[data-testid=login-submit]');
    await form.waitFor({ state: 'hidden' });
    await waitConn(page, 'connected');
  });
});

// ---- terminal state (a daemon with --terminal-state on; skipped without one) ------------

const TERM_URL = process.env.PTYHUB_E2E_TERM_URL;
const TERM_TOKEN_FILE = process.env.PTYHUB_E2E_TERM_TOKEN_FILE;
const noTerm = !TERM_URL && 'no daemon with terminal state (PTYHUB_E2E_TERM_URL)';

function termToken() {
  return TERM_TOKEN_FILE && existsSync(TERM_TOKEN_FILE)
    ? readFileSync(TERM_TOKEN_FILE, 'utf8').trim() || null : null;
}

// Opens the terminal-state daemon's page; skips the test when the server does not
// announce terminal state in WELCOME (an older server).
async function openTerm(t, h, path = '/', onPage = undefined) {
  const page = await h.open(path, { base: TERM_URL, token: termToken(), onPage });
  const flags = await page.evaluate(() => window.ptyhub.flags);
  if (!(flags & 4)) {
    t.skip('the server does not announce TERMINAL in WELCOME');
    return null;
  }
  return page;
}

// The program: waits for a key, sends a cursor position query (CPR), then collects what
// comes back for 1.5 s of quiet (raw mode, VMIN 0 / VTIME 15) and prints it in hex.
const CPR_PROGRAM = 'stty raw -echo; printf GO; dd bs=1 count=1 >/dev/null 2>&1; '
  + "stty min 0 time 15; printf '\\033[6n'; r=$(dd bs=64 count=8 2>/dev/null | od -An -tx1 | tr -d '\\n'); "
  + 'printf "\\r\\nREPLIES:%s\\r\\n" "$r"; sleep 600';

// Types one key into the terminal.
async function pressKey(page, key) {
  await page.evaluate(() => window.ptyhub.term.focus());
  await page.keyboard.type(key);
}

// How many CPR replies (ESC [ row ; col R) the program printed in hex.
async function cprReplies(page) {
  const line = await waitFor(async () => (await termLines(page)).find((l) => l.startsWith('REPLIES:')),
    'the program\'s REPLIES line', 20000);
  return (line.match(/ 52/g) || []).length;
}

test('xterm.js does not answer a CPR query when the server answers it', { ...T, skip: noTerm }, async (t) => {
  await withPages(t, async (h) => {
    // Every INPUT the page sends (type 0x05, sid, bytes): a CPR reply is ESC [ r ; c R.
    const sent = [];
    const page = await openTerm(t, h, '/', (p) => p.on('websocket', (ws) => ws.on('framesent', (f) => {
      if (typeof f.payload !== 'string') sent.push(Buffer.from(f.payload));
    })));
    if (!page) return;
    const cprSent = () => sent.filter((b) => b[0] === 0x05
      && /\x1b\[\d+;\d+R/.test(b.subarray(5).toString('latin1'))).length;
    const sid = await createSession(page, CPR_PROGRAM);
    await waitFor(async () => (await termLines(page)).some((l) => l.includes('GO')), 'GO');
    await pressKey(page, 'g');
    assert.equal(await cprReplies(page), 1, 'exactly one reply (the daemon\'s) reached the program');
    assert.ok(await page.evaluate(() => window.ptyhub.swallowed) >= 1, 'the page swallowed the query');
    assert.equal(cprSent(), 0, 'the page sent no CPR reply');

    // The same with the page answering too (swallowing off): the page does send a reply
    // (this shows that the check above can fail), and the daemon still lets exactly one
    // reach the program (it drops a reply that duplicates one it gave: defence in depth).
    await page.evaluate(() => { window.ptyhub.swallow = false; });
    await page.click('[data-testid=new-command]');
    const sid2 = await createSession(page, CPR_PROGRAM);
    assert.notEqual(sid2, sid);
    await waitFor(async () => (await termLines(page)).some((l) => l.includes('GO')), 'GO');
    await pressKey(page, 'g');
    await waitFor(async () => cprSent() >= 1, 'xterm.js to answer when not told otherwise');
    assert.equal(await cprReplies(page), 1, 'still exactly one reply reached the program');
  });
});

test('the session list shows titles and screen previews; attach uses a snapshot', { ...T, skip: noTerm }, async (t) => {
  await withPages(t, async (h) => {
    const page = await openTerm(t, h);
    if (!page) return;
    const m = marker('PREVIEW');
    const title = `TITLE_${randomBytes(3).toString('hex')}`;
    const sid = await createSession(page, `printf '\\033]2;${title}\\007'; printf '\\033[?1049h\\033[H'; ${m.cmd}; sleep 600`);
    assert.equal(await page.evaluate(() => window.ptyhub.attachKind), 3, 'attached from a snapshot');
    await waitFor(async () => (await page.textContent(`[data-testid=title-${sid}]`).catch(() => null)) === title,
      `the title "${title}" in the list`);
    await waitFor(async () => ((await page.textContent(`[data-testid=preview-${sid}]`).catch(() => '')) || '')
      .includes(m.text), 'the screen preview in the list');
    // A reload restores the alternate screen from the snapshot, not by replay.
    await page.reload();
    await waitConn(page, 'connected');
    await waitAttached(page, sid);
    await waitLine(page, m.text);
    const p = await page.evaluate(() => ({ kind: window.ptyhub.attachKind, snaps: window.ptyhub.snapshots,
      alt: window.ptyhub.term.buffer.active.type }));
    assert.deepEqual(p, { kind: 3, snaps: 1, alt: 'alternate' });
  });
});
