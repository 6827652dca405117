export * from './types';
export * from './chunker';
export * from './speech';
export * from './ws-pool';
export * from './elevenlabs';
export * from './gateway';
export * from './local';
export * from './aura';
