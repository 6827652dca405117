// Run in a scratch folder with `npm install werift opusscript` (not voxline dependencies): node werift.mjs 10
// N loopback calls with werift (SRTP/DTLS/ICE in TypeScript) + opusscript (WASM Opus): 20 ms frames both ways.
import { RTCPeerConnection, MediaStreamTrack, RtpPacket, RtpHeader } from 'werift';
import OpusScript from 'opusscript';
const N = Number(process.argv[2] || 10), SECS = 6;
async function pair() {
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  const ends = [];
  for (const pc of [a, b]) {
    const track = new MediaStreamTrack({ kind: 'audio' });
    pc.addTransceiver(track, { direction: 'sendrecv' });
    const end = { pc, track, enc: new OpusScript(48000, 1, OpusScript.Application.VOIP), dec: new OpusScript(48000, 1, OpusScript.Application.VOIP), seq: 0, ts: 0, got: 0 };
    pc.onTrack.subscribe((t) => t.onReceiveRtp.subscribe((rtp) => { const pcm = end.dec.decode(rtp.payload); end.got += pcm.length / 2; }));
    ends.push(end);
  }
  const o = await a.createOffer(); await a.setLocalDescription(o); await b.setRemoteDescription(a.localDescription);
  const an = await b.createAnswer(); await b.setLocalDescription(an); await a.setRemoteDescription(b.localDescription);
  return ends;
}
const ends = []; for (let i = 0; i < Math.ceil(N / 2); i++) ends.push(...(await pair()));
await new Promise((r) => setTimeout(r, 3000));
const pcm = Buffer.alloc(960 * 2); for (let i = 0; i < 960; i++) pcm.writeInt16LE(Math.round(8000 * Math.sin(i / 10)), i * 2);
const t = setInterval(() => { for (const e of ends) { const payload = e.enc.encode(pcm, 960); e.track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 111, sequenceNumber: (e.seq = (e.seq + 1) & 0xffff), timestamp: (e.ts = (e.ts + 960) >>> 0), marker: false }), payload)); } }, 20);
await new Promise((r) => setTimeout(r, 1000));
const c0 = process.cpuUsage(); const w0 = performance.now(); const g0 = ends.reduce((n, e) => n + e.got, 0);
await new Promise((r) => setTimeout(r, SECS * 1000));
const c = process.cpuUsage(c0); const w = performance.now() - w0; const g = ends.reduce((n, e) => n + e.got, 0) - g0;
clearInterval(t);
console.log(JSON.stringify({ stack: 'werift+opusscript', calls: N, cpuPctPerCall: +(100 * (c.user + c.system) / 1000 / w / N).toFixed(2), receivedSecPerCall: +(g / 48000 / N / (w / 1000)).toFixed(2), rssMB: Math.round(process.memoryUsage().rss / 1e6) }));
for (const e of ends) e.pc.close();
setTimeout(() => process.exit(0), 200);
