export * from './metrics';
export * from './session';
