export * from './types';
export * from './openai';
