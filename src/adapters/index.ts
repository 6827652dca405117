/**
 * `voxline/adapters`: audio inputs and outputs (files, Node streams, virtual devices).
 * @module
 */
export * from './types';
export * from './playback';
export * from './wav';
export * from './node-streams';
export * from './sox';
export * from './twilio';
export * from './browser';
export * from './browser-client';
export * from './guard';
export * from './webrtc';
export { checkOffer } from './webrtc-sdp';
export { authorizedWithin, originAllowed } from './admit';
