// voxline's WebRTC media path per call, server side: `webrtcHandler` calls whose input is read (Opus
// decoded, resampled to 16 kHz, 20 ms frames) and whose output plays audio continuously (48 kHz,
// 10 ms chunks on the clock, Opus encoded). The callers are @roamhq/wrtc peers in a child process.
// Run from the repository root: node --import tsx bench/webrtc-stacks/calls.ts 10
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { webrtcHandler } from '../../src/adapters/index';

const N = Number(process.argv[2] ?? 10);
const SECS = 6;

if (process.argv[3] === 'callers') {
  // The child: N callers, each POSTs its offer, sends 48 kHz audio and reads what comes back.
  const { RTCPeerConnection, nonstandard } = (await import('@roamhq/wrtc')).default;
  const url = process.argv[4]!;
  const sources: { onData(d: unknown): void }[] = [];
  for (let i = 0; i < N; i++) {
    const pc = new RTCPeerConnection();
    const src = new nonstandard.RTCAudioSource();
    pc.addTrack(src.createTrack());
    pc.createDataChannel('voxline');
    pc.ontrack = (e) => void (new nonstandard.RTCAudioSink(e.track).ondata = () => {});
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise<void>((r) => (pc.iceGatheringState === 'complete' ? r() : (pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r())));
    const res = await fetch(url, { method: 'POST', body: pc.localDescription!.sdp });
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    sources.push(src);
  }
  const samples = new Int16Array(480).map((_, i) => Math.round(6000 * Math.sin(i / 7)));
  setInterval(() => { for (const s of sources) s.onData({ samples, sampleRate: 48000, bitsPerSample: 16, channelCount: 1, numberOfFrames: 480 }); }, 10);
  process.send!('ready');
} else {
  let frames = 0;
  const tone = new Int16Array(960).map((_, i) => Math.round(6000 * Math.sin(i / 5)));
  const handler = webrtcHandler({
    public: true,
    onCall: async (call) => {
      await call.connected;
      void (async () => { for await (const _ of call.input) frames++; })();
      while (!call.isEnded) await call.output.write({ samples: tone, sampleRate: 48000 });
    },
  });
  const server = createServer((req, res) => void handler.handleRequest(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const child = fork(new URL(import.meta.url).pathname, [String(N), 'callers', `http://127.0.0.1:${(server.address() as { port: number }).port}/`], { execArgv: ['--import', 'tsx'] });
  await new Promise((r) => child.once('message', r));
  await new Promise((r) => setTimeout(r, 2000));
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const f0 = frames;
  await new Promise((r) => setTimeout(r, SECS * 1000));
  const c = process.cpuUsage(c0);
  const wall = performance.now() - w0;
  console.log(JSON.stringify({ calls: handler.calls.size, cpuPctPerCall: +((100 * (c.user + c.system)) / 1000 / wall / N).toFixed(2), inputSecPerCall: +((frames - f0) / 50 / N / (wall / 1000)).toFixed(2), rssMB: Math.round(process.memoryUsage().rss / 1e6) }));
  child.kill();
  for (const call of handler.calls) call.hangUp();
  server.close();
  setTimeout(() => process.exit(0), 200);
}
