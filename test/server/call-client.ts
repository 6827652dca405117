import WebSocket from 'ws';
import { toneSynthesizer } from '../../src/index';

/** One call in voxline's browser protocol: says a line in real time, waits for the agent's reply audio. */
export async function browserCall(url: string, timeoutMs = 20_000): Promise<{ audioBytes: number; transcript: string[]; status?: number; voiceToVoiceMs?: number }> {
  const speech = await toneSynthesizer({ sampleRate: 16000, msPerChar: 45 })('check my order please');
  const ws = new WebSocket(url);
  const transcript: string[] = [];
  let audioBytes = 0;
  let agentDone = false;
  const speechEnd = 3200 + speech.samples.length; // sample index where the caller stops speaking
  let speechEndAt = 0;
  let firstAudioAt = 0;
  const opened = await new Promise<number | true>((resolve) => {
    ws.on('open', () => resolve(true));
    ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => resolve(0));
  });
  if (opened !== true) return { audioBytes: 0, transcript, status: opened };
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      audioBytes += (data as Buffer).length;
      if (speechEndAt && !firstAudioAt) firstAudioAt = performance.now();
    }
    else {
      const msg = JSON.parse(String(data));
      if (msg.type === 'transcript' && msg.final) {
        transcript.push(`${msg.role}: ${msg.text}`);
        if (msg.role === 'agent') agentDone = true;
      }
    }
  });
  ws.send(JSON.stringify({ type: 'start', sampleRate: 16000 }));
  const audio = new Int16Array(3200 + speech.samples.length + 16000 * 3);
  audio.set(speech.samples, 3200);
  const start = performance.now();
  for (let i = 0, k = 0; i < audio.length && !agentDone && performance.now() - start < timeoutMs; i += 320, k++) {
    const wait = start + k * 20 - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (ws.readyState === WebSocket.OPEN) ws.send(audio.slice(i, i + 320));
    if (!speechEndAt && i + 320 >= speechEnd) speechEndAt = performance.now() - ((i + 320 - speechEnd) / 16);
  }
  while (!agentDone && performance.now() - start < timeoutMs && ws.readyState === WebSocket.OPEN) await new Promise((r) => setTimeout(r, 50));
  ws.close();
  return { audioBytes, transcript, voiceToVoiceMs: firstAudioAt ? firstAudioAt - speechEndAt : undefined };
}
