import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent, AudioFormatError, ConfigError, DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, VoxlineError, tool, toneSynthesizer, writeWav } from '../../src/index';
import { AuraEmulator, CartesiaEmulator, DeepgramEmulator, DeepgramFluxEmulator, ElevenLabsEmulator, GatewayEmulator, OpenAiEmulator, RealtimeEmulator, ScriptedCaller } from '../../src/testing/index';
import { virtualSpeaker, wavFileInput, wavFileOutput } from '../../src/adapters/index';
import { collect } from '../helpers';

const dir = mkdtempSync(join(tmpdir(), 'voxline-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stages = () => ({ stt: new DeepgramStt({ apiKey: 'k' }), llm: new OpenAiLlm({ apiKey: 'k', model: 'm' }), tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v' }) });
const echo = (name: string) => tool({ name, description: 'd', parameters: { type: 'object', properties: {} }, execute: () => 'ok' });

describe('options are checked at construction, with a ConfigError naming the option', () => {
  it.each([
    [{ bargeIn: { minWords: -1 } }, /bargeIn.minWords/],
    [{ bargeIn: { minWords: 1.5 } }, /bargeIn.minWords/],
    [{ maxToolSteps: 0 }, /maxToolSteps/],
    [{ tools: [echo('lookup'), echo('lookup')] }, /two tools are named lookup/],
    [{ tools: [{ name: 'has space', description: 'd', parameters: { type: 'object' }, execute: () => 'ok' }] }, /tool names/],
    [{ toolFiller: { text: 'One moment.', afterMs: -5 } }, /toolFiller.afterMs/],
    [{ budget: -1, prices: {} }, /budget/],
  ])('VoiceSession %j', (bad, message) => {
    expect(() => new VoiceSession({ ...stages(), ...(bad as object) })).toThrow(ConfigError);
    expect(() => new VoiceSession({ ...stages(), ...(bad as object) })).toThrow(message);
  });

  it('accepts the edge values that are valid', () => {
    expect(() => new VoiceSession({ ...stages(), bargeIn: { minWords: 0 }, maxToolSteps: 1, tools: [echo('a'), echo('b')] })).not.toThrow();
  });

  it('an output at a rate the resampler cannot serve fails when made, not mid-call', () => {
    expect(() => wavFileOutput(join(dir, 'out.wav'), { sampleRate: 12345 })).toThrow(ConfigError);
    expect(() => virtualSpeaker({ sampleRate: 12345 })).toThrow(/12345 Hz/);
    expect(() => wavFileOutput(join(dir, 'ok.wav'), { sampleRate: 24000 })).not.toThrow();
  });
});

describe('wavFileInput', () => {
  it('a missing file is a VoxlineError naming the file, at the call', () => {
    const path = join(dir, 'missing.wav');
    let err: unknown;
    try {
      wavFileInput(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VoxlineError);
    expect((err as Error).message).toBe(`wavFileInput: cannot read ${path}: no such file`);
  });

  it('a file voxline cannot read is an AudioFormatError naming the file', () => {
    const path = join(dir, 'junk.wav');
    writeFileSync(path, 'not a wav file at all');
    expect(() => wavFileInput(path)).toThrow(AudioFormatError);
    expect(() => wavFileInput(path)).toThrow(path);
  });

  it('a rate no STT can take is an AudioFormatError at the call, with the fix; sampleRate resamples a supported one', async () => {
    const path = join(dir, 'odd.wav');
    writeFileSync(path, writeWav(new Int16Array(11025).fill(1000), 11025));
    expect(() => wavFileInput(path)).toThrow(AudioFormatError);
    expect(() => wavFileInput(path)).toThrow(`${path} is at 11025 Hz`);
    const cd = join(dir, 'cd.wav');
    writeFileSync(cd, writeWav(new Int16Array(22050).fill(1000), 22050));
    expect(() => wavFileInput(cd, { sampleRate: 12345 })).toThrow(AudioFormatError);
    expect(() => wavFileInput(cd, { sampleRate: 12345 })).toThrow(/sampleRate 12345 Hz/);
    const frames = await collect(wavFileInput(cd, { sampleRate: 16000, realtime: false }));
    expect(frames.reduce((n, f) => n + f.samples.length, 0)).toBeGreaterThan(15900);
    expect(frames.every((f) => f.sampleRate === 16000)).toBe(true);
  });

  it('a stereo file is an AudioFormatError that says how to pick a channel; channel picks one or mixes them', async () => {
    const path = join(dir, 'stereo.wav');
    const interleaved = new Int16Array(2 * 1600);
    for (let i = 0; i < 1600; i++) {
      interleaved[2 * i] = 1000;
      interleaved[2 * i + 1] = 3000;
    }
    writeFileSync(path, writeWav(interleaved, 16000, 2));
    expect(() => wavFileInput(path)).toThrow(AudioFormatError);
    expect(() => wavFileInput(path)).toThrow(`wavFileInput: ${path} has 2 channels: pass { channel: 0 } (or another index) to hear one, or { channel: 'mix' } to average them (a call recorded in stereo holds both parties)`);
    expect(() => wavFileInput(path, { channel: 2 })).toThrow(new ConfigError(`wavFileInput: channel must be 'mix' or a channel of ${path} (0 to 1), not 2`));
    const heard = async (channel: number | 'mix') => new Set((await collect(wavFileInput(path, { channel, realtime: false }))).flatMap((f) => [...f.samples]));
    expect(await heard('mix')).toEqual(new Set([2000]));
    expect(await heard(0)).toEqual(new Set([1000]));
    expect(await heard(1)).toEqual(new Set([3000]));
    const frames = await collect(wavFileInput(path, { channel: 1, realtime: false }));
    expect(frames.reduce((n, f) => n + f.samples.length, 0)).toBe(1600);
  });
});

describe('VoiceSession.say()', () => {
  it('before run() rejects with a ConfigError saying what to do, and emits nothing', async () => {
    const session = new VoiceSession(stages());
    const errors: unknown[] = [];
    session.on('error', (e) => errors.push(e));
    await expect(session.say('Hello')).rejects.toThrow(new ConfigError('VoiceSession.say() needs a running session: call it after run() has started (use the greeting option to speak first)'));
    await new Promise((r) => setTimeout(r, 50));
    expect(errors).toEqual([]);
  });
});

describe('VoiceSession.run()', () => {
  it('a missing or wrong input or output is a ConfigError saying what goes there, before anything starts', async () => {
    // Plain JavaScript gets no compiler check: these are a newcomer's first tries. Before, each was a
    // TypeError from deep in the call, reported (and logged) as a ProviderError.
    const session = new VoiceSession(stages());
    const errors: unknown[] = [];
    session.on('error', (e) => errors.push(e));
    const logged: unknown[] = [];
    const log = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    try {
      const run = (call: unknown) => session.run(call as Parameters<VoiceSession['run']>[0]);
      await expect(run(undefined)).rejects.toThrow(new ConfigError('VoiceSession.run() takes { input, output }, not undefined'));
      await expect(run({ input: 'question.wav', output: virtualSpeaker() })).rejects.toThrow(new ConfigError(
        'VoiceSession.run() takes { input, output }: input must be an async iterable of audio frames (wavFileInput(path), soxMic(), pcmInput(stream, { sampleRate }), caller.input(session)), not a string ("question.wav")'));
      const input = wavFileInput((() => { const p = join(dir, 'run.wav'); writeFileSync(p, writeWav(new Int16Array(1600), 16000)); return p; })(), { realtime: false });
      await expect(run({ input })).rejects.toThrow(/^VoiceSession\.run\(\) takes \{ input, output \}: output must be an AudioOutput \(virtualSpeaker\(\), .*\), not undefined$/);
      await expect(run({ input, output: { write: async () => {} } })).rejects.toThrow(/not an object without clear\(\), drain\(\), close\(\)$/);
      await expect(run({ input, outpt: virtualSpeaker() })).rejects.toThrow(/unknown option `outpt`: did you mean `output`\?/);
      await expect(run({ input, output: virtualSpeaker(), signal: 5000 })).rejects.toThrow(/signal must be an AbortSignal, not a number/);
    } finally {
      console.error = log;
    }
    expect(errors).toEqual([]);
    expect(logged).toEqual([]);
    // Nothing started: the session is not running (and no provider was dialled).
    await expect(session.say('Hello')).rejects.toThrow(/needs a running session/);
  });
});

describe('VoiceSession.on()', () => {
  it('an event the session never emits is a ConfigError naming the nearest one, not a listener never called', () => {
    const session = new VoiceSession(stages());
    const on = (name: string) => () => session.on(name as 'turn', () => {});
    expect(on('turns')).toThrow(new ConfigError('VoiceSession.on(): no event is named `turns`: did you mean `turn`?'));
    expect(on('close')).toThrow(/did you mean `closed`\?/);
    expect(() => session.once('Error' as 'error', () => {})).toThrow(/VoiceSession\.once\(\): no event is named `Error`: did you mean `error`\?/);
    expect(() => session.addListener('speech' as 'turn', () => {})).toThrow(/no event is named `speech` \(events: user_speech_started, transcript, .*closed\)/);
    session.on('turn', () => {}).once('closed', () => {}).addListener('error', () => {});
    expect(session.listenerCount('turn') + session.listenerCount('closed') + session.listenerCount('error')).toBe(3);
  });
});

describe('Agent', () => {
  it('a misspelled option is a ConfigError naming the nearest one, not an agent without instructions', () => {
    expect(() => new Agent({ name: 'billing', instruction: 'You are the billing desk.' } as never)).toThrow(new ConfigError('Agent billing: unknown option `instruction`: did you mean `instructions`?'));
    expect(() => new Agent({ name: 'billing', greting: 'Hello' } as never)).toThrow(/did you mean `greeting`\?/);
    expect(new Agent({ name: 'billing', instructions: 'You are the billing desk.', voice: undefined }).instructions).toBe('You are the billing desk.');
  });
});

describe('tool()', () => {
  const base = { name: 'lookup_order', description: 'd', parameters: { type: 'object' as const, properties: {} } };
  it('a misspelled field or a missing execute fails at the declaration, not when the model calls the tool', () => {
    expect(() => tool({ ...base, handler: () => 1 } as never)).toThrow(new ConfigError("tool 'lookup_order': unknown option `handler` (known: name, description, parameters, execute, timeoutMs)"));
    expect(() => tool({ ...base, execute: () => 1, timeout: 5000 } as never)).toThrow(/unknown option `timeout`: did you mean `timeoutMs`\?/);
    expect(() => tool({ ...base } as never)).toThrow("Tool 'lookup_order' needs an execute(args, { signal }) function");
    expect(tool({ ...base, execute: () => 1, timeoutMs: 5000 }).timeoutMs).toBe(5000);
  });
});

describe('ScriptedCaller', () => {
  it('a misspelled option, missing lines or a missing voice is a ConfigError saying what goes there (was a TypeError)', () => {
    expect(() => new ScriptedCaller({ line: ['Hello'], synthesizer: toneSynthesizer() } as never)).toThrow(new ConfigError('ScriptedCaller: unknown option `line`: did you mean `lines`?'));
    expect(() => new ScriptedCaller({ synthesizer: toneSynthesizer() } as never)).toThrow(/^ScriptedCaller needs lines: what the caller says/);
    expect(() => new ScriptedCaller({ lines: ['Hello'] } as never)).toThrow(/^ScriptedCaller needs a synthesizer, the voice it speaks with/);
    expect(new ScriptedCaller({ lines: ['Hello'], synthesizer: toneSynthesizer(), clock: undefined })).toBeInstanceOf(ScriptedCaller);
  });
});

describe('the emulators', () => {
  it('refuse a misspelled option by name (an ignored script answered the test wrongly, silently)', () => {
    expect(() => new GatewayEmulator({ apiKey: 'k', scipt: ['Hello'] } as never)).toThrow(new ConfigError('GatewayEmulator: unknown option `scipt`: did you mean `script`?'));
    expect(() => new DeepgramEmulator({ scripts: ['Hello'] } as never)).toThrow(/^DeepgramEmulator: unknown option `scripts`: did you mean `script`\?/);
    expect(() => new OpenAiEmulator({ timeToFirstTokenMS: 0 } as never)).toThrow(/did you mean `timeToFirstTokenMs`\?/);
    for (const Emu of [ElevenLabsEmulator, AuraEmulator, CartesiaEmulator, RealtimeEmulator, DeepgramFluxEmulator]) {
      expect(() => new Emu({ clok: undefined, port: 0, portt: 1 } as never)).toThrow(new RegExp(`^${Emu.name}: unknown option \`portt\`: did you mean \`port\`\\?`));
    }
    // The gateway's own options, and those of the emulators it is made of, are all taken.
    const gateway = new GatewayEmulator({ apiKey: 'k', script: ['Hello'], budgets: { team: 5 }, timeToFirstTokenMs: 0, timeToFirstAudioMs: 0, finalDelayMs: 10 });
    expect(gateway.opts.script).toEqual(['Hello']);
  });
});

describe('virtualSpeaker()', () => {
  it('refuses a misspelled option by name (samplerate played at 16 kHz, silently)', () => {
    expect(() => virtualSpeaker({ samplerate: 8000 } as never)).toThrow(new ConfigError('virtualSpeaker: unknown option `samplerate`: did you mean `sampleRate`?'));
    expect(virtualSpeaker({ sampleRate: 8000, clock: undefined }).sampleRate).toBe(8000);
  });
});
