export * from './errors';
export * from './audio/index';
export * from './streams/index';
export * from './stt/index';
export * from './llm/index';
export * from './tts/index';
export * from './gateway';
export * from './session/index';
export type { AudioOutput, AudioInput } from './adapters/types';
