/**
 * `voxline/server`: `createVoiceServer` (Twilio and browser calls, limits, health, Prometheus
 * metrics, OpenTelemetry spans, drain, call records) and `runCluster`. Needs the optional peer `prom-client`.
 * @module
 */
export * from './voice-server';
export * from './cluster';
export type { CallEnding, CallRecord, JsonlRecordSink, JsonlRecordsOptions, RecordSink, RecordedError, RecordedInterruption, RecordedToolCall } from './records';
export { jsonlRecords } from './records';
