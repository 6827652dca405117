export * from './types';
export * from './schema';
export * from './tools';
export * from './openai';
export * from './loop';
