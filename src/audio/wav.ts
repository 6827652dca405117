import { AudioFormatError, ConfigError } from '../errors';
import type { AudioFrame } from './frame';

/** A decoded WAV file. */
export interface WavAudio extends AudioFrame {
  /** Number of channels in the file (always 1 for {@link readWav}). */
  channels: number;
}

/**
 * Parses a RIFF/WAVE file holding 16-bit PCM mono audio.
 * @throws AudioFormatError for anything else: stereo, 8-bit, float, a truncated header, or chunk
 * sizes that do not match the data.
 */
export function readWav(bytes: Uint8Array, options: { allowStereo?: boolean | undefined } = {}): WavAudio {
  // A JavaScript caller may pass the path: say what to pass instead of a TypeError from DataView.
  if (!(bytes instanceof Uint8Array)) throw new ConfigError(`readWav takes the file's bytes (readFileSync(path)), not ${typeof bytes === 'string' ? 'a path' : typeof bytes}; wavFileInput(path) from voxline/adapters reads a file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number) => String.fromCharCode(bytes[o]!, bytes[o + 1]!, bytes[o + 2]!, bytes[o + 3]!);
  if (bytes.byteLength < 12) throw new AudioFormatError(`WAV: truncated header (${bytes.byteLength} bytes)`);
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new AudioFormatError('WAV: not a RIFF/WAVE file');
  let offset = 12;
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  while (offset + 8 <= bytes.byteLength) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + size > bytes.byteLength) throw new AudioFormatError('WAV: truncated fmt chunk');
      let format = view.getUint16(body, true);
      if (format === 0xfffe && size >= 26) format = view.getUint16(body + 24, true); // WAVE_FORMAT_EXTENSIBLE
      fmt = { format, channels: view.getUint16(body + 2, true), rate: view.getUint32(body + 4, true), bits: view.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (!fmt) throw new AudioFormatError('WAV: data chunk before fmt chunk');
      if (fmt.format !== 1) throw new AudioFormatError(`WAV: only PCM is supported (format tag ${fmt.format}${fmt.format === 3 ? ', float' : ''})`);
      if (fmt.bits !== 16) throw new AudioFormatError(`WAV: only 16-bit samples are supported, got ${fmt.bits}-bit`);
      if (fmt.channels < 1 || (fmt.channels !== 1 && !options.allowStereo)) throw new AudioFormatError(`WAV: only mono is supported, got ${fmt.channels} channels`);
      if (fmt.rate < 1000 || fmt.rate > 384000) throw new AudioFormatError(`WAV: implausible sample rate ${fmt.rate}`);
      // Streaming writers put 0 or 0xFFFFFFFF in the size: read to the end then.
      const available = bytes.byteLength - body;
      const length = size === 0 || size === 0xffffffff ? available : size;
      if (length > available) throw new AudioFormatError(`WAV: data chunk claims ${length} bytes but only ${available} remain`);
      const frameBytes = 2 * fmt.channels;
      if (length % frameBytes !== 0) throw new AudioFormatError(`WAV: data length ${length} is not a whole number of ${fmt.channels}-channel 16-bit frames`);
      const samples = new Int16Array(length / 2);
      for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(body + i * 2, true);
      return { samples, sampleRate: fmt.rate, channels: fmt.channels };
    }
    if (size > bytes.byteLength - body) throw new AudioFormatError(`WAV: chunk '${id}' claims ${size} bytes past the end of the file`);
    offset = body + size + (size % 2);
  }
  throw new AudioFormatError(fmt ? 'WAV: no data chunk' : 'WAV: no fmt chunk');
}

/** Encodes PCM16 samples (interleaved when `channels` > 1) as a WAV file. */
export function writeWav(samples: Int16Array, sampleRate: number, channels = 1): Buffer {
  const dataBytes = samples.length * 2;
  const out = Buffer.alloc(44 + dataBytes);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20);
  out.writeUInt16LE(channels, 22);
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * channels * 2, 28);
  out.writeUInt16LE(channels * 2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i]!, 44 + i * 2);
  return out;
}
