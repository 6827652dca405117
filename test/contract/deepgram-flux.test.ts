/**
 * Deepgram Flux (`/v2/listen`) against the official `@deepgram/sdk` v2 types and Flux docs
 * (developers.deepgram.com/docs/flux/state, /configure, /force-end-turn, /configuration, /close-stream):
 * compile-time checks of what DeepgramFluxStt reads and DeepgramFluxEmulator sends, the emulator's
 * messages against typed references, and typed messages replayed into the client.
 */
import type { DefaultDeepgramClient, listen } from '@deepgram/sdk';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramFluxStt, ProviderError, type SttEvent } from '../../src/index';
import type { DeepgramFluxTurnInfoWire } from '../../src/stt/deepgram-wire';
import { DeepgramFluxEmulator } from '../../src/testing/index';
import type { fluxConfigureFailureMessage, fluxConfigureSuccessMessage, fluxConnectedMessage, fluxErrorMessage, fluxTurnInfoMessage } from '../../src/testing/deepgram-messages';
import { collect, paced, sleep, utteranceFrames } from '../helpers';
import { replayWs } from './replay';
import { check, shapeProblems, type ReadsOfficial, type SendsOfficial } from './shape';

check<ReadsOfficial<DeepgramFluxTurnInfoWire, listen.ListenV2TurnInfo>>();
check<SendsOfficial<ReturnType<typeof fluxTurnInfoMessage>, listen.ListenV2TurnInfo>>();
check<SendsOfficial<ReturnType<typeof fluxConnectedMessage>, listen.ListenV2Connected>>();
check<SendsOfficial<ReturnType<typeof fluxConfigureSuccessMessage>, listen.ListenV2ConfigureSuccess>>();
check<SendsOfficial<ReturnType<typeof fluxConfigureFailureMessage>, listen.ListenV2ConfigureFailure>>();
check<SendsOfficial<ReturnType<typeof fluxErrorMessage>, listen.ListenV2FatalError>>();

type V2ConnectArgs = Parameters<DefaultDeepgramClient['listen']['v2']['connect']>[0];
const queryParams = { model: 1, encoding: 1, sample_rate: 1, eot_threshold: 1, eager_eot_threshold: 1, eot_timeout_ms: 1, keyterm: 1, tag: 1 } satisfies Partial<Record<keyof V2ConnectArgs, 1>>;
const control = {
  closeStream: { type: 'CloseStream' } satisfies listen.ListenV2CloseStream,
  forceEndTurn: { type: 'ForceEndTurn' } satisfies listen.ListenV2ForceEndTurn,
  configure: { type: 'Configure', thresholds: { eager_eot_threshold: 0.4, eot_threshold: 0.8 } } satisfies listen.ListenV2Configure,
};

/**
 * A turn as the state-machine doc describes it ("Hi I need to cancel my subscription please"):
 * shapes from the SDK types, values illustrative.
 */
const id = 'a1b2c3d4-0000-4000-8000-000000000000';
const w = (word: string, start: number, end: number) => ({ word, confidence: 0.95, start, end });
const all = [w('Hi', 0.32, 0.5), w('I', 0.56, 0.62), w('need', 0.62, 0.8), w('to', 0.8, 0.88), w('cancel', 0.88, 1.2), w('my', 1.2, 1.3), w('subscription', 1.3, 1.9), w('please', 2.6, 2.9)];
const turn = (seq: number, event: string, n: number, end: number, conf: number, extra: Partial<listen.ListenV2TurnInfo> = {}) =>
  ({ type: 'TurnInfo', request_id: id, sequence_id: seq, event, turn_index: 0, audio_window_start: 0.32, audio_window_end: end, transcript: all.slice(0, n).map((x) => x.word).join(' '), words: all.slice(0, n), end_of_turn_confidence: conf, ...extra }) satisfies listen.ListenV2TurnInfo;
const refs = {
  Connected: { type: 'Connected', request_id: id, sequence_id: 0 } satisfies listen.ListenV2Connected,
  TurnInfo: turn(1, 'StartOfTurn', 1, 0.5, 0.01),
  EndOfTurn: turn(9, 'EndOfTurn', 8, 3.2, 0.85, { trigger: 'model' }),
  ConfigureSuccess: { type: 'ConfigureSuccess', request_id: id, thresholds: { eot_threshold: 0.8, eager_eot_threshold: 0.4, eot_timeout_ms: 5000 }, keyterms: [], sequence_id: 3 } satisfies listen.ListenV2ConfigureSuccess,
  ConfigureFailure: { type: 'ConfigureFailure', request_id: id, sequence_id: 4 } satisfies listen.ListenV2ConfigureFailure,
  Error: { type: 'Error', sequence_id: 5, code: 'UNPARSABLE_CLIENT_MESSAGE', description: 'Unknown message' } satisfies listen.ListenV2FatalError,
};
const lifecycle = [
  refs.Connected,
  refs.TurnInfo,
  turn(2, 'Update', 4, 0.88, 0.05),
  turn(3, 'Update', 7, 1.9, 0.2),
  turn(4, 'EagerEndOfTurn', 7, 2.2, 0.55),
  turn(5, 'TurnResumed', 7, 2.6, 0.1),
  turn(6, 'Update', 8, 2.9, 0.3),
  turn(7, 'EagerEndOfTurn', 8, 3.1, 0.6),
  turn(8, 'NewEventFromTheFuture', 8, 3.1, 0.6),
  refs.EndOfTurn,
];

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('DeepgramFluxEmulator sends the official shapes and follows the state machine', () => {
  it('every message has the shape of its typed reference; the documented rules hold', async () => {
    const emu = new DeepgramFluxEmulator({ script: ['Hi I need to', 'cancel my subscription please'] });
    await emu.start();
    cleanup = () => emu.close();
    const ws = new WebSocket(`${emu.baseURL.replace('http', 'ws')}/listen?model=flux-general-en&encoding=linear16&sample_rate=16000&eager_eot_threshold=0.4`, { headers: { Authorization: 'Token k' } });
    const seen: Record<string, any>[] = [];
    ws.on('message', (d) => seen.push(JSON.parse(String(d))));
    await new Promise((r) => ws.on('open', r));
    ws.send(JSON.stringify(control.configure));
    for await (const f of paced([...(await utteranceFrames(700, 200, 280)), ...(await utteranceFrames(800, 0, 700))])) ws.send(f.samples);
    ws.send(JSON.stringify({ type: 'Configure', thresholds: { eot_threshold: 0.1 } }));
    ws.send(JSON.stringify(control.closeStream));
    await new Promise((r) => ws.on('close', r));
    for (const m of seen) {
      const ref = m.type === 'TurnInfo' && m.event === 'EndOfTurn' ? refs.EndOfTurn : refs[m.type as keyof typeof refs];
      expect(shapeProblems(m, ref), `${m.type} ${m.event ?? ''}`).toEqual([]);
    }
    expect(seen.map((m) => m.sequence_id)).toEqual(seen.map((_, i) => i));
    const turns = seen.filter((m) => m.type === 'TurnInfo');
    const events = turns.map((m) => m.event).filter((e, i, a) => e !== 'Update' || a[i - 1] !== 'Update');
    expect(events).toEqual(['StartOfTurn', 'Update', 'EagerEndOfTurn', 'TurnResumed', 'Update', 'EagerEndOfTurn', 'EndOfTurn']);
    turns.forEach((m, i) => {
      if (m.event === 'EagerEndOfTurn') expect(m.transcript).not.toBe('');
      if (m.event === 'TurnResumed') expect(turns[i - 1].event === 'EagerEndOfTurn' || turns.slice(0, i).reverse().find((x) => x.event !== 'Update')?.event === 'EagerEndOfTurn').toBe(true);
      if (m.event === 'EndOfTurn') expect(m.transcript).toBe(turns.slice(0, i).reverse().find((x) => x.event === 'EagerEndOfTurn')!.transcript);
    });
    expect(turns.at(-1)).toMatchObject({ event: 'EndOfTurn', trigger: 'model', transcript: 'Hi I need to cancel my subscription please' });
    expect(seen.map((m) => m.type)).toEqual(expect.arrayContaining(['Connected', 'ConfigureSuccess', 'ConfigureFailure']));
  });

  it('CloseStream mid-turn: an Update with the words received, no EndOfTurn, and a close without a status code', async () => {
    const emu = new DeepgramFluxEmulator({ script: ['please cancel it'] });
    await emu.start();
    cleanup = () => emu.close();
    const ws = new WebSocket(`${emu.baseURL.replace('http', 'ws')}/listen?model=flux-general-en&encoding=linear16&sample_rate=16000`, { headers: { Authorization: 'Token k' } });
    const seen: Record<string, any>[] = [];
    ws.on('message', (d) => seen.push(JSON.parse(String(d))));
    await new Promise((r) => ws.on('open', r));
    // The input stops while the caller speaks.
    for (const f of await utteranceFrames(900, 200, 0)) ws.send(f.samples);
    ws.send(JSON.stringify(control.closeStream));
    const code = await new Promise<number>((r) => ws.on('close', (c) => r(c)));
    expect(code).toBe(1005);
    const turns = seen.filter((m) => m.type === 'TurnInfo');
    expect(turns.map((m) => m.event)).not.toContain('EndOfTurn');
    expect(turns.at(-1)).toMatchObject({ event: 'Update', transcript: 'please cancel it' });
    for (const m of turns) expect(shapeProblems(m, refs.TurnInfo)).toEqual([]);
  });
});

describe('DeepgramFluxStt against the official messages', () => {
  it('maps the documented turn lifecycle onto voxline events, ignoring unknown events', async () => {
    const server = await replayWs((ws) => {
      for (const m of lifecycle) ws.send(JSON.stringify(m));
      // Flux closes without a status code after CloseStream.
      ws.on('message', (d, bin) => !bin && JSON.parse(String(d)).type === 'CloseStream' && ws.close());
    });
    cleanup = server.close;
    const stt = new DeepgramFluxStt({ apiKey: 'k', baseURL: server.baseURL.replace('/v1', '/v2'), eagerEotThreshold: 0.4, eotThreshold: 0.8, eotTimeoutMs: 5000, keyterms: ['subscription'], query: { tag: 'x' } });
    async function* audio() { yield* await utteranceFrames(0, 200, 0); await sleep(200); }
    const events = await collect(stt.transcribe(audio()));
    expect(events.map((e) => e.type)).toEqual(['speech_started', 'interim', 'interim', 'interim', 'eager_end_of_turn', 'turn_resumed', 'interim', 'interim', 'eager_end_of_turn', 'final']);
    expect(events[0]).toEqual({ type: 'speech_started', timestamp: 0.32, turnStart: true });
    expect(events.at(-1)).toEqual<SttEvent>({ type: 'final', text: 'Hi I need to cancel my subscription please', endOfTurn: true, start: 0.32, end: 3.2, words: all.map((x) => ({ word: x.word, start: x.start, end: x.end, confidence: 0.95 })) });
    expect(server.received).toEqual([control.closeStream]);
    for (const k of server.query[0]!.keys()) expect(Object.keys(queryParams), k).toContain(k);
  });

  it('a turn that CloseStream leaves open ends with its last Update; the close without a status code ends the stream', async () => {
    // The documented lifecycle, cut after its last Update (CloseStream emits no EndOfTurn).
    const cut = lifecycle.slice(0, 7);
    const server = await replayWs((ws) => {
      for (const m of cut) ws.send(JSON.stringify(m));
      ws.on('message', (d, bin) => !bin && JSON.parse(String(d)).type === 'CloseStream' && ws.close());
    });
    cleanup = server.close;
    const stt = new DeepgramFluxStt({ apiKey: 'k', baseURL: server.baseURL.replace('/v1', '/v2'), eagerEotThreshold: 0.4 });
    async function* audio() { yield* await utteranceFrames(0, 200, 0); await sleep(200); }
    const events = await collect(stt.transcribe(audio()));
    expect(events.at(-1)).toEqual<SttEvent>({ type: 'final', text: 'Hi I need to cancel my subscription please', endOfTurn: true, start: 0.32, end: 2.9, words: all.map((x) => ({ word: x.word, start: x.start, end: x.end, confidence: 0.95 })) });
    expect(events.filter((e) => e.type === 'final').length).toBe(1);
    expect(server.query.length).toBe(1);
    expect(server.received).toEqual([control.closeStream]);
  });

  it('resolves configure() on ConfigureSuccess, rejects on ConfigureFailure; a fatal Error fails the transcription', async () => {
    const server = await replayWs((ws, received) => {
      ws.send(JSON.stringify(refs.Connected));
      ws.on('message', (d, bin) => {
        if (bin) return;
        const m = JSON.parse(String(d));
        if (m.type === 'Configure') ws.send(JSON.stringify(received.filter((x) => x.type === 'Configure').length === 1 ? refs.ConfigureSuccess : refs.ConfigureFailure));
        if (m.type === 'ForceEndTurn') ws.send(JSON.stringify(refs.Error));
      });
    });
    cleanup = server.close;
    const t = new DeepgramFluxStt({ apiKey: 'k', baseURL: server.baseURL.replace('/v1', '/v2') }).transcribe(paced(await utteranceFrames(0, 2000, 0)));
    const done = collect(t).catch((e) => e);
    await sleep(150);
    await t.configure({ eagerEotThreshold: 0.4, eotThreshold: 0.8 });
    await expect(t.configure({ eotTimeoutMs: 3000 })).rejects.toBeInstanceOf(ProviderError);
    t.forceEndTurn();
    const err = await done;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toMatch(/UNPARSABLE_CLIENT_MESSAGE/);
    expect(server.received.slice(0, 3)).toEqual([control.configure, { type: 'Configure', thresholds: { eot_timeout_ms: 3000 } }, control.forceEndTurn]);
  });
});
