import WebSocket from 'ws';
import { AuthError, ProviderError } from '../errors';

/** Opens a WebSocket and resolves once it is open, with typed errors for refused handshakes. */
export function openSocket(url: string, headers: Record<string, string>, provider: string, timeoutMs = 5000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs, maxPayload: 16 << 20 });
    ws.once('open', () => {
      ws.removeAllListeners('error');
      ws.on('error', () => {});
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      ws.on('error', () => {});
      ws.terminate();
      reject(
        status === 401 || status === 403
          ? new AuthError(`${provider} refused the credentials (HTTP ${status})`, { provider, status })
          : new ProviderError(`${provider} refused the connection (HTTP ${status})`, { provider, status, retryable: status === 429 || status >= 500, code: 'connection_error' }),
      );
    });
    ws.once('error', (err) => reject(new ProviderError(`${provider}: could not connect (${err.message})`, { provider, retryable: true, code: 'connection_error', cause: err })));
  });
}

/**
 * Keeps one socket open ahead of need. `take()` hands it over (or opens one) and immediately
 * starts warming the next; a warm socket that closes while idle is dropped and reopened lazily.
 */
export class WarmSocket {
  private next?: Promise<WebSocket>;
  private stopKeepAlive?: () => void;
  private closed = false;

  /**
   * @param goodbye a message sent before closing an unused socket (the protocol's end of stream).
   * @param keepAlive a message sent every `everyMs` while a socket waits unused, so the provider's
   * inactivity timeout does not close it.
   */
  constructor(
    private readonly open: () => Promise<WebSocket>,
    private readonly goodbye?: string,
    private readonly keepAlive?: { message: string; everyMs: number },
  ) {}

  /** Starts opening a socket if none is warm. */
  warm(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (!this.next) {
      const p = this.open();
      this.next = p;
      p.then(
        (ws) => {
          const ka = this.keepAlive;
          if (ka && this.next === p) {
            const timer = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(ka.message), ka.everyMs);
            this.stopKeepAlive = () => clearInterval(timer);
          }
          ws.once('close', () => {
            if (this.next !== p) return;
            this.stopKeepAlive?.();
            this.next = undefined;
          });
        },
        () => { if (this.next === p) this.next = undefined; },
      );
    }
    return this.next.then(() => undefined, () => undefined);
  }

  /** A ready socket: the warm one if it is still open, else a new one. Rewarms after. */
  async take(): Promise<WebSocket> {
    const p = this.next ?? this.open();
    this.next = undefined;
    this.stopKeepAlive?.();
    this.stopKeepAlive = undefined;
    let ws: WebSocket;
    try {
      ws = await p;
    } catch {
      ws = await this.open();
    }
    if (ws.readyState !== WebSocket.OPEN) ws = await this.open();
    void this.warm();
    return ws;
  }

  /**
   * Closes the warm socket and stops warming. Resolves within `deadlineMs` (default 2000 ms) even
   * if the socket is still opening; it is closed as soon as it opens.
   */
  async close(deadlineMs = 2000): Promise<void> {
    this.closed = true;
    this.stopKeepAlive?.();
    const p = this.next;
    this.next = undefined;
    if (!p) return;
    const closing = p.then(
      (ws) => {
        if (this.goodbye && ws.readyState === WebSocket.OPEN) ws.send(this.goodbye);
        ws.close(1000);
        // A peer that never completes the close handshake is cut.
        const cut = setTimeout(() => ws.terminate(), deadlineMs);
        cut.unref();
        ws.once('close', () => clearTimeout(cut));
      },
      () => {}, // nothing open
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closing, new Promise((r) => (timer = setTimeout(r, deadlineMs)))]);
    clearTimeout(timer);
  }
}
