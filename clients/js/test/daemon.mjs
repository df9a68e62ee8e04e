// daemon: starts `ptyhub serve` on a private socket and a free loopback port for the
// tests, as tests/integration/harness.py does: a fresh 0700 directory, --ready-fd on a
// pipe, the made-up token read from DIR/token. Stopped by pid (SIGTERM, then SIGKILL).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.resolve(ROOT, process.env.PTYHUB_BIN || 'build/ptyhub');

export class Daemon {
  constructor(extra = []) {
    this.extra = [...(process.env.PTYHUB_SERVE_ARGS || '').split(/\s+/).filter(Boolean), ...extra];
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'ptyhub-js-'));
    this.sock = path.join(this.dir, 'sock');
    this.log = path.join(this.dir, 'daemon.log');
  }

  async start() {
    const { openSync } = await import('node:fs');
    const logFd = openSync(this.log, 'w');
    this.proc = spawn(BIN, ['serve', '--socket', this.sock, '--no-session', '--listen',
      '127.0.0.1:0', '--ready-fd', '3', ...this.extra], {
      stdio: ['ignore', logFd, logFd, 'pipe'], cwd: this.dir,
      env: { ...process.env, PTYHUB_TOKEN: '' },
    });
    const ready = await new Promise((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`no READY within 15 s: ${this.logText()}`)), 15000);
      this.proc.stdio[3].on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) {
          clearTimeout(timer);
          resolve(buf.split('\n')[0]);
        }
      });
      this.proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the daemon exited (${code}) during start-up: ${this.logText()}`));
      });
    });
    const [, http] = ready.split(' ');
    this.http = http.replace(/^http:\/\//, '');
    this.url = `http://${this.http}`;
    this.wsUrl = `ws://${this.http}/ws`;
    try {
      this.token = readFileSync(path.join(this.dir, 'token'), 'utf8').trim();
    } catch {
      this.token = null;
    }
    return this;
  }

  logText() {
    try {
      return readFileSync(this.log, 'utf8');
    } catch {
      return '';
    }
  }

  async stop() {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((resolve) => p.once('exit', resolve));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
