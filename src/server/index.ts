/**
 * `voxline/server`: `createVoiceServer` (Twilio and browser calls, limits, health, Prometheus
 * metrics, OpenTelemetry spans, drain) and `runCluster`. Needs the optional peer `prom-client`.
 * @module
 */
export * from './voice-server';
export * from './cluster';
export * from './records';
