// Type declarations of ptyhub (src/index.js): the client for browsers and Node.

import * as codec from './codec.js';
import type {
  CreateOptions, Data, Event, Exit, Gap, Output, Resized, Screen, SessionInfo, Snapshot,
  Waited, Welcome,
} from './codec.js';

export { codec };
export {
  VERSION, WELCOME_F_WRITE, WELCOME_F_RESIZED, WELCOME_F_TERMINAL, WELCOME_F_OPEN,
  WELCOME_F_EVENTS, WELCOME_F_PASTE, EV, EVENTS_ALL, VT_MODE,
} from './codec.js';
export type { SessionInfo, Screen, Waited, Welcome, Event as LifecycleEvent } from './codec.js';

export class PtyhubError extends Error {
  constructor(code: number, message: string, req?: number, sid?: number);
  readonly code: number;
  readonly codeName: string;
  readonly serverMessage: string;
  readonly req: number;
  readonly sid: number;
  readonly closes: boolean;
}
export class ConnectionClosed extends Error {
  constructor(message?: string, cause?: unknown);
}
export class ProtocolViolation extends Error {}
export class LostOutput extends Error {
  readonly sid: number;
  readonly from: number;
  readonly to: number;
}
export class Unsupported extends Error {}
export const codes: Readonly<{
  BAD_FRAME: 1; TOO_LARGE: 2; UNKNOWN_TYPE: 3; VERSION: 4; NOT_HELLO: 5; NO_SUCH_SESSION: 6;
  SPAWN_FAILED: 7; BAD_ARGUMENT: 8; LIMIT: 9; NOT_ATTACHED: 10; READ_ONLY: 11; EXITED: 12;
  INTERNAL: 13; AUTH: 14; UNAVAILABLE: 15;
}>;

/** What a Client runs over: one body per call, framing is the transport's business. */
export interface Transport {
  start(onBody: (body: Uint8Array) => void, onClose: (err: Error | null) => void): void;
  send(body: Uint8Array): void;
  close(): void;
  closed?: Promise<void>;
}

export interface ClientOptions {
  ackPaced?: boolean;
  ackEvery?: number;
  helloFlags?: number;
  version?: number;
  timeout?: number;
  onError?: (err: PtyhubError) => void;
}

export type Mode = 'interactive' | 'read-only';
export type From = number | { tail: number } | 'live' | 'snapshot';

export interface ErrorEvent { type: 'error'; sid: number; error: PtyhubError }
export type SessionEvent = Output | Gap | Snapshot | Resized | Exit | ErrorEvent;

export interface WriteOptions { onAck?: (acknowledged: number) => void }
export interface PasteOptions extends WriteOptions { enter?: boolean }
export interface WaitOptions { text?: string; idleMs?: number; timeoutMs?: number; after?: number }

export class Session implements AsyncIterable<SessionEvent> {
  readonly client: Client;
  readonly sid: number;
  readonly mode: number;
  readonly start: number;
  readonly end: number;
  cols: number;
  rows: number;
  pid: number;
  readonly exitedAtAttach: boolean;
  readonly position: number;
  readonly consumed: number;
  readonly acked: number;
  readonly exit: Exit | null;
  readonly buffered: number;
  readonly queued: number;
  read(): Promise<SessionEvent | null>;
  [Symbol.asyncIterator](): AsyncIterator<SessionEvent>;
  consume(fn: (ev: SessionEvent) => unknown | Promise<unknown>): Promise<void>;
  outputUntilExit(): Promise<{ data: Uint8Array; exit: Exit }>;
  write(data: Data, opts?: WriteOptions): Promise<void>;
  paste(text: Data, opts?: PasteOptions): Promise<void>;
  input(data: Data): void;
  resize(cols: number, rows: number): void;
  signal(signo?: number): Promise<void>;
  kill(): Promise<void>;
  screen(opts?: { ansi?: boolean }): Promise<Screen>;
  wait(opts: WaitOptions): Promise<Waited>;
  detach(): Promise<void>;
}

export class EventStream implements AsyncIterable<Event> {
  read(): Promise<Event | null>;
  [Symbol.asyncIterator](): AsyncIterator<Event>;
  close(): Promise<void>;
}

export interface OpenOptions extends CreateOptions {
  attach?: boolean;
  mode?: Mode;
  hold?: boolean;
  fallback?: boolean;
}

export class Client {
  constructor(transport: Transport, opts?: ClientOptions);
  static connect(transport: Transport, opts?: ClientOptions): Promise<Client>;
  readonly transport: Transport;
  readonly welcome: Welcome | null;
  readonly version: number;
  readonly closed: boolean;
  writeRefusals: number;
  has(flag: number): boolean;
  create(opts: CreateOptions): Promise<{ sid: number; pid: number }>;
  attach(sid: number, opts?: { from?: From; mode?: Mode; cols?: number; rows?: number }): Promise<Session>;
  open(opts: OpenOptions & { attach: false }): Promise<{ sid: number; pid: number }>;
  open(opts: OpenOptions): Promise<Session>;
  detach(sid: number): Promise<void>;
  signal(sid: number, signo?: number): Promise<void>;
  kill(sid: number): Promise<void>;
  remove(sid: number): Promise<void>;
  list(): Promise<SessionInfo[]>;
  input(sid: number, data: Data): void;
  resize(sid: number, cols: number, rows: number): void;
  ack(sid: number, offset: number): void;
  write(sid: number, data: Data, opts?: WriteOptions): Promise<void>;
  paste(sid: number, text: Data, opts?: PasteOptions): Promise<void>;
  screen(sid: number, opts?: { ansi?: boolean }): Promise<Screen>;
  wait(sid: number, opts: WaitOptions): Promise<Waited>;
  subscribe(opts?: { mask?: number; limit?: number }): Promise<EventStream>;
  session(sid: number): Session | null;
  close(): Promise<void>;
}

export function normalizePaste(data: Data): Uint8Array;

export const SUBPROTOCOL: 'ptyhub.v1';
export class BrowserWebSocketTransport implements Transport {
  constructor(url?: string, WebSocketImpl?: typeof WebSocket);
  start(onBody: (body: Uint8Array) => void, onClose: (err: Error | null) => void): void;
  send(body: Uint8Array): void;
  close(): void;
  closed: Promise<void>;
}
export function connectBrowser(url?: string, opts?: ClientOptions & { WebSocket?: typeof WebSocket }): Promise<Client>;
export function login(token: string, base?: string): Promise<void>;
