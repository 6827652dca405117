/**
 * The browser side of {@link browserHandler}, as an ES module source text: serve it (for example at
 * `/voxline-client.js`) and `import { connect } from '/voxline-client.js'` in a page. It captures
 * the microphone with an AudioWorklet, streams 20 ms PCM16 frames up, plays the agent's audio
 * (dropping it at once on barge-in), reports what it has played, and shows live transcripts.
 *
 * `connect({ url, transcript, sampleRate })` resolves to `{ close(), stats }`, where `stats`
 * counts bytes sent and received. `transcript` is an element to append the conversation to.
 *
 * `connect({ transport: 'webrtc', url, transcript, iceServers, headers })` calls
 * `webrtcHandler` instead (`url` is its `POST /webrtc` address): the microphone goes up as an
 * Opus track with `echoCancellation`, `noiseSuppression` and `autoGainControl` on (each an option,
 * default true), the agent plays through an `<audio>` element (so the browser's echo canceller
 * hears it as the far end), events come over a data channel, and the page reports how far it has
 * played. Its `stats` add `heardMs`, `rms` and `peak` (the agent's audio the page received, above
 * -40 dBFS) and `playedMs`.
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

export async function connect({ url, transcript, sampleRate = 16000, transport = 'websocket', ...webrtc } = {}) {
  if (transport === 'webrtc') return connectWebRtc({ url, transcript, ...webrtc });
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
  const show = shower(transcript);
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

function shower(transcript) {
  const lines = new Map();
  return (role, text, final, interrupted) => {
    if (!transcript) return;
    let el = lines.get(role);
    if (!el) { el = document.createElement('p'); el.className = 'vx-' + role; transcript.appendChild(el); lines.set(role, el); }
    el.textContent = (role === 'user' ? 'You: ' : 'Agent: ') + text + (interrupted ? ' …' : '');
    if (final) lines.delete(role);
  };
}

const METER = ${'`'}
class VxMeter extends AudioWorkletProcessor {
  constructor() { super(); this.n = 0; this.loud = 0; this.sq = 0; this.peak = 0; }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0]; if (!ch) return true;
    for (let i = 0; i < ch.length; i++) { const v = ch[i]; const a = v < 0 ? -v : v; if (a > 0.01) { this.loud++; this.sq += v * v; } if (a > this.peak) this.peak = a; }
    this.n += ch.length;
    if (this.n >= sampleRate / 10) { this.n = 0; this.port.postMessage({ loudMs: (this.loud / sampleRate) * 1000, rms: this.loud ? Math.sqrt(this.sq / this.loud) : 0, peak: this.peak }); }
    return true;
  }
}
registerProcessor('vx-meter', VxMeter);
${'`'};

async function connectWebRtc({ url, transcript, iceServers = [], echoCancellation = true, noiseSuppression = true, autoGainControl = true, headers = {} }) {
  const media = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation, noiseSuppression, autoGainControl } });
  const pc = new RTCPeerConnection({ iceServers });
  const events = pc.createDataChannel('voxline');
  pc.addTrack(media.getAudioTracks()[0], media);
  // The agent plays through an <audio> element: the browser's echo canceller takes it as the far end.
  const audio = document.createElement('audio'); audio.autoplay = true; document.body.appendChild(audio);
  const stats = { sentBytes: 0, receivedBytes: 0, clears: 0, heardMs: 0, rms: 0, peak: 0, playedMs: 0 };
  let ctx;
  let receiver;
  pc.ontrack = async (e) => {
    receiver = e.receiver;
    const stream = e.streams[0] || new MediaStream([e.track]);
    audio.srcObject = stream;
    // A level meter on the agent's track (what the page hears), in stats.heardMs / rms / peak.
    try {
      ctx = new AudioContext();
      await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([METER], { type: 'application/javascript' })));
      const meter = new AudioWorkletNode(ctx, 'vx-meter');
      const mute = ctx.createGain(); mute.gain.value = 0;
      ctx.createMediaStreamSource(stream).connect(meter); meter.connect(mute); mute.connect(ctx.destination);
      meter.port.onmessage = (m) => { stats.heardMs += m.data.loudMs; if (m.data.rms > stats.rms) stats.rms = m.data.rms; if (m.data.peak > stats.peak) stats.peak = m.data.peak; };
    } catch {}
  };
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  // No trickle ICE: the offer goes with every candidate gathered (or what is there after 2 s).
  await new Promise((resolve) => { if (pc.iceGatheringState === 'complete') return resolve(); const t = setTimeout(resolve, 2000); pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); } }; });
  const res = await fetch(url, { method: 'POST', body: pc.localDescription.sdp, headers: { 'content-type': 'application/sdp', ...headers } });
  if (res.status !== 201) { pc.close(); media.getTracks().forEach((t) => t.stop()); throw new Error('voxline: ' + url + ' refused the call (' + res.status + '): ' + (await res.text())); }
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  const show = shower(transcript);
  // How far the agent's track has played: the RTP timestamp of the audio last played out.
  let first;
  const report = setInterval(async () => {
    const src = receiver && receiver.getSynchronizationSources()[0];
    if (src) {
      if (first === undefined) first = src.rtpTimestamp;
      stats.playedMs = ((src.rtpTimestamp - first) >>> 0) / 48;
      if (events.readyState === 'open') events.send(JSON.stringify({ type: 'played', streamMs: stats.playedMs }));
    }
    try {
      (await pc.getStats()).forEach((r) => { if (r.type === 'outbound-rtp' && r.kind === 'audio') stats.sentBytes = r.bytesSent; if (r.type === 'inbound-rtp' && r.kind === 'audio') stats.receivedBytes = r.bytesReceived; });
    } catch {}
  }, 100);
  events.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    // The server dropped its queue on barge-in; what is already in the jitter buffer is a few tens of ms.
    if (msg.type === 'clear') stats.clears++;
    else if (msg.type === 'transcript') show(msg.role, msg.text, msg.final, msg.interrupted);
    else if (msg.type === 'metrics') stats.lastTurn = msg;
  };
  return {
    stats,
    pc,
    close() {
      clearInterval(report);
      try { if (events.readyState === 'open') events.send(JSON.stringify({ type: 'stop' })); } catch {}
      pc.close(); media.getTracks().forEach((t) => t.stop()); audio.remove();
      return ctx ? ctx.close() : Promise.resolve();
    },
  };
}
`;
