import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import type { AudioFrame } from '../audio/frame';

/** Where an agent's audio goes: a speaker, a phone call, a browser, a file. */
export interface AudioOutput {
  /** The rate frames should be written at; the session resamples to it. */
  readonly sampleRate: number;
  /** Queues audio for playback; resolves when the output can take more (backpressure). */
  write(frame: AudioFrame): Promise<void>;
  /** Drops all queued audio at once (barge-in). */
  clear(): void;
  /** Milliseconds of audio actually played so far (queued and cleared audio excluded). */
  readonly playedMs: number;
  /** Milliseconds of audio written and not cleared so far. */
  readonly writtenMs: number;
  /** Resolves when everything written has played. */
  drain(): Promise<void>;
  /** Stops playback and releases the device or connection. */
  close(): Promise<void>;
  /**
   * True once nobody can hear the output any more (the caller hung up, the page closed): the
   * session then stops the reply instead of generating audio for no one. Optional.
   */
  readonly closed?: boolean | undefined;
}

/** Where a caller's audio comes from: any async iterable of frames. */
export type AudioInput = AsyncIterable<AudioFrame>;

/** A WebSocket endpoint that mounts on any HTTP server. */
export interface UpgradeHandler {
  /** The underlying `ws` server (its `clients` are the open calls). */
  wss: WebSocketServer;
  /** Call from the HTTP server's `upgrade` event to accept (or refuse) a connection. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void | Promise<void>;
}
