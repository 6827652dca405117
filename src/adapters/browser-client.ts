/**
 * The browser side of {@link browserHandler}, as an ES module source text: serve it (for example at
 * `/voxline-client.js`) and `import { connect } from '/voxline-client.js'` in a page. It captures
 * the microphone with an AudioWorklet, streams 20 ms PCM16 frames up, plays the agent's audio
 * (dropping it at once on barge-in), reports what it has played, and shows live transcripts.
 *
 * `connect({ url, transcript, sampleRate })` resolves to `{ close(), stats }`, where `stats`
 * counts bytes sent and received. `transcript` is an element to append the conversation to.
 */
export const BROWSER_CLIENT_JS = String.raw`
const WORKLET = ${'`'}
class VxMic extends AudioWorkletProcessor {
  process(inputs) { const ch = inputs[0] && inputs[0][0]; if (ch) this.port.postMessage(ch.slice(0)); return true; }
}
class VxPlayer extends AudioWorkletProcessor {
  constructor() {
    super(); this.queue = []; this.offset = 0; this.played = 0; this.sinceReport = 0;
    this.port.onmessage = (e) => { if (e.data === 'clear') { this.queue = []; this.offset = 0; this.played = 0; } else this.queue.push(e.data); };
  }
  process(_inputs, outputs) {
    const out = outputs[0][0]; let i = 0;
    while (i < out.length && this.queue.length) {
      const buf = this.queue[0]; const n = Math.min(out.length - i, buf.length - this.offset);
      out.set(buf.subarray(this.offset, this.offset + n), i); i += n; this.offset += n; this.played += n;
      if (this.offset >= buf.length) { this.queue.shift(); this.offset = 0; }
    }
    this.sinceReport += out.length;
    if (this.sinceReport >= sampleRate / 10) { this.sinceReport = 0; this.port.postMessage(this.played); }
    return true;
  }
}
registerProcessor('vx-mic', VxMic);
registerProcessor('vx-player', VxPlayer);
${'`'};

export async function connect({ url, transcript, sampleRate = 16000 } = {}) {
  const ctx = new AudioContext({ sampleRate });
  await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([WORKLET], { type: 'application/javascript' })));
  const media = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
  const source = ctx.createMediaStreamSource(media);
  const mic = new AudioWorkletNode(ctx, 'vx-mic');
  const player = new AudioWorkletNode(ctx, 'vx-player', { outputChannelCount: [1] });
  const mute = ctx.createGain(); mute.gain.value = 0;
  source.connect(mic); mic.connect(mute); mute.connect(ctx.destination); player.connect(ctx.destination);
  const ws = new WebSocket(url); ws.binaryType = 'arraybuffer';
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('voxline: could not connect to ' + url)); });
  const stats = { sentBytes: 0, receivedBytes: 0, clears: 0 };
  const rate = ctx.sampleRate;
  ws.send(JSON.stringify({ type: 'start', sampleRate: rate }));
  const per = Math.round(rate / 50); let pending = new Int16Array(per); let fill = 0;
  mic.port.onmessage = (e) => {
    const f = e.data;
    for (let i = 0; i < f.length; i++) {
      const v = Math.max(-1, Math.min(1, f[i])); pending[fill++] = v < 0 ? v * 32768 : v * 32767;
      if (fill === per) { if (ws.readyState === 1) { ws.send(pending.buffer); stats.sentBytes += pending.byteLength; } pending = new Int16Array(per); fill = 0; }
    }
  };
  player.port.onmessage = (e) => { if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'played', ms: (e.data / rate) * 1000 })); };
  const lines = new Map();
  const show = (role, text, final, interrupted) => {
    if (!transcript) return;
    let el = lines.get(role);
    if (!el) { el = document.createElement('p'); el.className = 'vx-' + role; transcript.appendChild(el); lines.set(role, el); }
    el.textContent = (role === 'user' ? 'You: ' : 'Agent: ') + text + (interrupted ? ' …' : '');
    if (final) lines.delete(role);
  };
  ws.onmessage = (e) => {
    if (typeof e.data !== 'string') {
      stats.receivedBytes += e.data.byteLength;
      const pcm = new Int16Array(e.data); const f = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) f[i] = pcm[i] / 32768;
      player.port.postMessage(f, [f.buffer]);
      return;
    }
    const msg = JSON.parse(e.data);
    if (msg.type === 'clear') { stats.clears++; player.port.postMessage('clear'); }
    else if (msg.type === 'transcript') show(msg.role, msg.text, msg.final, msg.interrupted);
  };
  return {
    stats,
    close() { try { ws.send(JSON.stringify({ type: 'stop' })); } catch {} ws.close(); media.getTracks().forEach((t) => t.stop()); return ctx.close(); },
  };
}
`;
