/**
 * `voxline/testing`: protocol-faithful local emulators of the providers, for tests, benchmarks
 * and offline demos. Never used unless you construct them.
 * @module
 */
export * from './emulator';

export * from './stt-engine';
export * from './tts-engine';
export * from './deepgram';
export * from './deepgram-flux';
export * from './elevenlabs';
export * from './cartesia';
export * from './openai';
export * from './gateway';
export * from './caller';
export * from './twilio';
export * from './aura';
export * from './text-session';
export * from './expect';
export * from './replies';
export * from './realtime';
export * from './clock';
