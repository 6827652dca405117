// From the repository root (needs the dev dependency @roamhq/wrtc): node bench/webrtc-stacks/wrtc.cjs 10
// N loopback calls with @roamhq/wrtc: 48 kHz mono audio both ways (Opus + SRTP + jitter buffer in libwebrtc).
const { RTCPeerConnection, nonstandard } = require('@roamhq/wrtc');
const N = Number(process.argv[2] || 10), SECS = 6;
async function pair() {
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const sa = new nonstandard.RTCAudioSource(), sb = new nonstandard.RTCAudioSource();
  a.addTrack(sa.createTrack()); b.addTrack(sb.createTrack());
  let got = 0; const sinks = [];
  for (const pc of [a, b]) pc.ontrack = (e) => { const s = new nonstandard.RTCAudioSink(e.track); sinks.push(s); s.ondata = (d) => { got += d.samples.length; }; };
  const o = await a.createOffer(); await a.setLocalDescription(o); await b.setRemoteDescription(o);
  const an = await b.createAnswer(); await b.setLocalDescription(an); await a.setRemoteDescription(an);
  return { sa, sb, a, b, sinks, get got() { return got; } };
}
(async () => {
  const pairs = []; for (let i = 0; i < Math.ceil(N / 2); i++) pairs.push(await pair());
  await new Promise((r) => setTimeout(r, 1500));
  const samples = new Int16Array(480); for (let i = 0; i < 480; i++) samples[i] = Math.round(8000 * Math.sin(i / 10));
  const t = setInterval(() => { for (const p of pairs) for (const s of [p.sa, p.sb]) s.onData({ samples, sampleRate: 48000, bitsPerSample: 16, channelCount: 1, numberOfFrames: 480 }); }, 10);
  await new Promise((r) => setTimeout(r, 1000));
  const c0 = process.cpuUsage(); const w0 = performance.now(); const g0 = pairs.reduce((n, p) => n + p.got, 0);
  await new Promise((r) => setTimeout(r, SECS * 1000));
  const c = process.cpuUsage(c0); const w = performance.now() - w0; const g = pairs.reduce((n, p) => n + p.got, 0) - g0;
  clearInterval(t);
  const cores = (c.user + c.system) / 1000 / w;
  console.log(JSON.stringify({ stack: 'wrtc', calls: N, cpuPctPerCall: +(100 * cores / N).toFixed(2), receivedSecPerCall: +(g / 48000 / N / (w / 1000)).toFixed(2), rssMB: Math.round(process.memoryUsage().rss / 1e6) }));
  for (const p of pairs) { p.sinks.forEach((s) => s.stop()); p.a.close(); p.b.close(); }
  setTimeout(() => process.exit(0), 200);
})();
