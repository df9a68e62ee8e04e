// The README's example (examples/agents.mjs, which the README shows verbatim): it
// crashes after five events, runs again and resumes; every agent's log then holds
// exactly that agent's bytes, and the sessions are removed.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import { connectUnix } from '../src/node.js';
import { BIN, Daemon, ROOT } from './daemon.mjs';

const EXAMPLE = path.join(ROOT, 'clients/js/examples/agents.mjs');
const STDIO = path.join(ROOT, 'clients/js/examples/stdio.mjs');

test('the README shows examples/agents.mjs and examples/stdio.mjs as they are', () => {
  const readme = readFileSync(path.join(ROOT, 'clients/js/README.md'), 'utf8');
  for (const [start, file] of [['// Nine agents:', EXAMPLE], ['// Nine agents at once', STDIO]]) {
    const i = readme.indexOf(`\`\`\`js\n${start}`);
    assert.ok(i >= 0, `the README shows ${file}`);
    const block = readme.slice(i + 6, readme.indexOf('```', i + 6));
    assert.equal(block, readFileSync(file, 'utf8'));
  }
});

test('the stdio example: nine prompts over a private ptyhub stdio', { timeout: 60000 }, () => {
  const p = spawnSync(process.execPath, [STDIO], {
    encoding: 'utf8', timeout: 50000,
    env: { ...process.env, PATH: `${path.dirname(BIN)}:${process.env.PATH}` },
  });
  assert.equal(p.status, 0, p.stderr);
  const want = [...Array(9).keys()].map((i) => `${i} 0 ${JSON.stringify(`prompt ${i}\r\ngot prompt ${i}\r\n`)}`);
  assert.deepEqual(p.stdout.trim().split('\n').sort(), want.sort());
});

test('the example: nine agents, a crash, a resume, every byte once', { timeout: 120000 }, async () => {
  const d = await new Daemon().start();
  try {
    const work = path.join(d.dir, 'broker');
    mkdirSync(work);
    const run = (...args) => spawnSync(process.execPath, [EXAMPLE, ...args], {
      cwd: work, env: { ...process.env, PTYHUB_SOCKET: d.sock }, encoding: 'utf8', timeout: 60000,
    });
    let p = run('--crash-after', '5');
    assert.equal(p.status, 1, `the crashing run's status; stderr: ${p.stderr}`);
    assert.ok(readdirSync(work).includes('broker.json'), 'the state was saved');
    p = run();
    assert.equal(p.status, 0, `the resumed run's status; stderr: ${p.stderr}`);
    const logs = readdirSync(work).filter((n) => n.startsWith('agent-')).sort();
    assert.equal(logs.length, 9);
    for (const n of logs) {
      const sid = n.slice('agent-'.length, -'.log'.length);
      assert.equal(readFileSync(path.join(work, n), 'utf8'),
        `prompt for ${sid}\r\ngot prompt for ${sid}\r\n`, n);
    }
    assert.ok(!readdirSync(work).includes('broker.json'), 'the state file is gone at the end');
    const c = await connectUnix(d.sock);
    assert.deepEqual(await c.list(), [], 'the example removed its sessions');
    await c.close();
  } finally {
    await d.stop();
  }
});
