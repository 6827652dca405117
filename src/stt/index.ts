export * from './types';
export * from './ws-transcription';
export * from './deepgram';
export * from './gateway';
export * from './deepgram-flux';
