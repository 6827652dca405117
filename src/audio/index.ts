export * from './frame';
export * from './wav';
export * from './resample';
export * from './mulaw';
export * from './vad';
export * from './silero';
