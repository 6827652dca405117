export * from './types';
export * from './ws-transcription';
export * from './deepgram';
export * from './gateway';
