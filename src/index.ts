export * from './errors';
export * from './audio/index';
export * from './streams/index';
