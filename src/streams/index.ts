export * from './channel';
export * from './clock';
