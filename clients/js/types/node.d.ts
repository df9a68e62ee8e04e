// Type declarations of ptyhub/node (src/node.js): everything of ptyhub, plus Node's
// transports.

import type { ChildProcess } from 'node:child_process';
import type { Client, ClientOptions, Transport } from './index.js';

export * from './index.js';

export function defaultSocketPath(): string;
export function defaultToken(socketPath?: string): string | null;

export class StreamTransport implements Transport {
  start(onBody: (body: Uint8Array) => void, onClose: (err: Error | null) => void): void;
  send(body: Uint8Array): void;
  close(): void;
  closed: Promise<void>;
  readonly writableLength: number;
}
export interface StdioTransport extends StreamTransport {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: string | null; error?: Error }>;
}
export interface StdioOptions {
  ptyhub?: string;
  args?: string[];
  stderr?: 'inherit' | 'ignore' | 'pipe' | number;
  grace?: number;
}
export function unixTransport(socketPath?: string): Promise<StreamTransport>;
export function stdioTransport(opts?: StdioOptions): StdioTransport;

export class NodeWebSocketTransport implements Transport {
  static open(url: string, opts?: { token?: string | null; socketPath?: string; origin?: string }): Promise<NodeWebSocketTransport>;
  start(onBody: (body: Uint8Array) => void, onClose: (err: Error | null) => void): void;
  send(body: Uint8Array): void;
  close(): void;
  closed: Promise<void>;
}
export function wsFrame(opcode: number, payload: Uint8Array): Uint8Array;
export class WsReader {
  constructor(maxMessage?: number);
  feed(chunk: Uint8Array): void;
  next(): { kind: 'message' | 'ping' | 'close'; data: Uint8Array } | null;
}

export function connectUnix(socketPath?: string, opts?: ClientOptions): Promise<Client>;
export function spawnStdio(opts?: StdioOptions & ClientOptions): Promise<Client & { transport: StdioTransport }>;
export function connectWebSocket(url: string, opts?: ClientOptions & { token?: string | null; socketPath?: string; origin?: string }): Promise<Client>;
