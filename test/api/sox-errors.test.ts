import { describe, expect, it } from 'vitest';
import { DeviceError } from '../../src/index';
import { soxMic, soxSpeaker } from '../../src/adapters/index';

// Stand-ins for `rec`/`play` that fail as SoX does when no audio device opens: a message on
// stderr and a non-zero exit. `node --version` answers the PATH check.
const node = process.execPath;
const failing = (message: string, code: number, afterMs = 0) => ['-e', `setTimeout(() => { process.stderr.write(${JSON.stringify(message)}); process.exit(${code}); }, ${afterMs})`];
const frame = { samples: new Int16Array(320), sampleRate: 16000 };

describe('SoX adapters fail loudly with a typed error naming the cause and the fix', () => {
  it('soxMic: a recorder that cannot open its device rejects the iteration (it ended after 0 frames)', async () => {
    const iterate = async () => {
      for await (const _ of soxMic({ command: node, args: failing("rec FAIL formats: can't open input  `default': No such device", 2) }));
    };
    const err = await iterate().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect((err as Error).message).toMatch(/The microphone \(.*\) exited with code 2: rec FAIL formats: can't open input .*No such device\. Check that a microphone is connected/);
  });

  it('soxMic: a recorder that ends normally (audio from a file) ends the iteration normally', async () => {
    const frames: unknown[] = [];
    for await (const f of soxMic({ command: node, args: ['-e', 'process.stdout.write(Buffer.alloc(640))'] })) frames.push(f);
    expect(frames.length).toBe(1);
  });

  it('soxSpeaker: a player that dies rejects the writes waiting on it and every later one, and close()', async () => {
    // A player that opens no device: it reads nothing, so writes pile up until it exits.
    const speaker = soxSpeaker({ command: node, args: failing("play FAIL sox: Sorry, there is no default audio device configured", 1, 150) });
    const writes = Array.from({ length: 200 }, () => speaker.write(frame).catch((e: unknown) => e));
    const results = await Promise.all(writes);
    expect(results.some((r) => r instanceof DeviceError)).toBe(true);
    await expect(speaker.write(frame)).rejects.toThrow(/The speaker \(.*\) exited with code 1: play FAIL sox: Sorry, there is no default audio device configured\. Check that a speaker is connected/);
    await expect(speaker.close()).rejects.toBeInstanceOf(DeviceError);
  }, 15_000);

  it('soxSpeaker: names the device given when it will not open', async () => {
    const speaker = soxSpeaker({ command: node, device: 'hw:7', args: failing('aplay: main:831: audio open error: No such file or directory', 1) });
    let err: unknown;
    for (let i = 0; i < 100 && !err; i++) {
      err = await speaker.write(frame).then(() => undefined, (e: unknown) => e);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(err).toBeInstanceOf(DeviceError);
    expect((err as Error).message).toMatch(/device 'hw:7'/);
  });
});
