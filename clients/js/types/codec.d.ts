// Type declarations of ptyhub/codec (src/codec.js): the protocol as pure functions.

export const VERSION: 3;
export const MAGIC: number;
export const MAX_BODY: number;
export const OUTPUT_MAX: number;
export const T: Readonly<Record<string, number>>;
export const HELLO_F_ACK: number;
export const HELLO_F_HOLD: number;
export const WELCOME_F_WRITE: number;
export const WELCOME_F_RESIZED: number;
export const WELCOME_F_TERMINAL: number;
export const WELCOME_F_OPEN: number;
export const WELCOME_F_EVENTS: number;
export const WELCOME_F_PASTE: number;
export const MODE_INTERACTIVE: 0;
export const MODE_READ_ONLY: 1;
export const FROM_OFFSET: 0;
export const FROM_TAIL: 1;
export const FROM_LIVE: 2;
export const FROM_SNAPSHOT: 3;
export const WRITE_F_RESUME: number;
export const PASTE_F_ENTER: number;
export const PASTE_F_RESUME: number;
export const SCREEN_F_ANSI: number;
export const WAIT_F_TEXT: number;
export const WAIT_F_IDLE: number;
export const OPEN_F_ATTACH: number;
export const OPEN_F_HOLD: number;
export const LIST_F_MORE: number;
export const LIST_F_EXT: number;
export const EV: Readonly<{ CREATED: 1; EXITED: 2; REMOVED: 3; RESIZED: 4; TITLE: 5; DROPPED: 6 }>;
export const EVENT_NAMES: Readonly<Record<number, string>>;
export const EVENTS_ALL: number;
export const VT_MODE: Readonly<Record<string, number>>;
export const STATES: readonly string[];
export const LEVELS: readonly string[];
export const CLASSES: readonly string[];
export const ERROR_NAMES: Readonly<Record<number, string>>;
export const ERROR_CODES: Readonly<Record<string, number>>;
export const ERRORS_CLOSING: readonly number[];

export type Bytes = Uint8Array;
export type Data = string | Uint8Array | ArrayBuffer | ArrayBufferView;

export class DecodeError extends Error {}

export function toBytes(data: Data): Uint8Array;

export interface CreateOptions {
  argv: string[];
  name?: string;
  cwd?: string;
  env?: Record<string, string> | string[];
  cols?: number;
  rows?: number;
}

export function encodeHello(flags?: number, version?: number): Bytes;
export function encodeCreate(req: number, o: CreateOptions): Bytes;
export function encodeOpen(req: number, flags: number, mode: number, o: CreateOptions): Bytes;
export function encodeAttach(req: number, sid: number, mode?: number, fromKind?: number,
  from?: number, cols?: number, rows?: number): Bytes;
export function encodeDetach(req: number, sid: number): Bytes;
export function encodeInput(sid: number, data: Data): Bytes;
export function encodeResize(sid: number, cols: number, rows: number): Bytes;
export function encodeSignal(req: number, sid: number, signo?: number): Bytes;
export function encodeList(req: number): Bytes;
export function encodeAck(sid: number, offset: number): Bytes;
export function encodeRemove(req: number, sid: number): Bytes;
export function encodeWrite(req: number, sid: number, data: Data, flags?: number): Bytes;
export function encodeScreen(req: number, sid: number, flags?: number): Bytes;
export function encodeWait(req: number, sid: number, flags: number, after?: number,
  idleMs?: number, timeoutMs?: number, regex?: string): Bytes;
export function encodeEvents(req: number, mask?: number): Bytes;
export function encodePaste(req: number, sid: number, data: Data, flags?: number): Bytes;

export function frame(body: Uint8Array): Bytes;
export class FrameSplitter {
  constructor(maxBody?: number);
  readonly buffered: number;
  feed(chunk: Uint8Array): void;
  next(): Uint8Array | null;
  wanted(): number;
}

export interface Welcome { type: 'welcome'; version: number; flags: number; pid: number; serverVersion: string }
export interface Created { type: 'created'; req: number; sid: number; pid: number }
export interface Attached {
  type: 'attached'; req: number; sid: number; start: number; end: number; cols: number;
  rows: number; state: number; exited: boolean;
}
export interface Ok { type: 'ok'; req: number }
export interface SessionInfo {
  sid: number; pid: number; state: number; stateName: string; level: number; levelName: string;
  clients: number; exitCode: number; exitSignal: number; cols: number; rows: number;
  bytesOut: number; createdMs: number; name: string; command: string;
  /** version 3 only */
  class?: number; className?: string; bells?: number; lastOutputMs?: number;
  title?: string; cwd?: string;
}
export interface ListReply { type: 'list'; req: number; flags: number; more: boolean; sessions: SessionInfo[] }
export interface Screen {
  type: 'screen'; req: number; sid: number; offset: number; cols: number; rows: number;
  cursor: { col: number; row: number; visible: boolean }; altScreen: boolean; flags: number;
  modes: number; title: string; data: Uint8Array;
  /** the decoded text (Client.screen without ansi) */
  text?: string;
}
export interface Waited {
  type: 'waited'; req: number; sid: number; reasonCode: number;
  reason: 'text' | 'idle' | 'timeout' | 'exited' | string; offset: number;
}
export interface Output { type: 'output'; sid: number; offset: number; data: Uint8Array }
export interface Exit { type: 'exit'; sid: number; end: number; code: number; signal: number }
export interface Gap { type: 'gap'; sid: number; from: number; to: number }
export interface Resized { type: 'resized'; sid: number; cols: number; rows: number }
export interface Snapshot { type: 'snapshot'; sid: number; offset: number; data: Uint8Array }
export interface Event {
  type: 'event'; kind: number;
  event: 'created' | 'exited' | 'removed' | 'resized' | 'title' | 'dropped' | string;
  sid: number; timeMs: number;
  pid?: number; cols?: number; rows?: number; name?: string; command?: string;
  code?: number; signal?: number; end?: number; title?: string; count?: number;
  data?: Uint8Array; local?: boolean;
}
export interface ErrorMessage { type: 'error'; req: number; sid: number; code: number; name: string; message: string }
export type ServerMessage = Welcome | Created | Attached | Ok | ListReply | Screen | Waited
  | Output | Exit | Gap | Resized | Snapshot | Event | ErrorMessage;

export function decode(body: Uint8Array | ArrayBuffer): ServerMessage | null;
export function decodeRequest(body: Uint8Array | ArrayBuffer): ({ type: string } & Record<string, unknown>) | null;
export function encodeRequest(m: { type: string } & Record<string, unknown>): Bytes;
