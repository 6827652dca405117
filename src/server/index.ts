export * from './voice-server';
export * from './cluster';
