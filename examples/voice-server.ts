// A production voice server: phone calls and browsers, one process per core, health, readiness,
// Prometheus metrics, graceful drain on SIGTERM. Put it behind any load balancer (docs/deployment.md).
// Run: AIGATEWAY_API_KEY=... PUBLIC_URL=https://agent.example.com npx tsx examples/voice-server.ts
import { createVoiceServer, gateway, runCluster } from 'voxline';

// #region server
runCluster({
  workers: Number(process.env.WORKERS ?? 0) || undefined,       // default: one per core
  start: async () => {
    const aig = gateway({ apiKey: process.env.AIGATEWAY_API_KEY });
    const server = createVoiceServer({
      maxCalls: 100,                                           // per worker; then 503 so the balancer retries elsewhere
      drainTimeoutMs: 30_000,
      handleSignals: true,                                     // SIGTERM: stop taking calls, let them finish
      twilio: { publicUrl: process.env.PUBLIC_URL, authToken: process.env.TWILIO_AUTH_TOKEN },
      browser: { allowedOrigins: [process.env.PUBLIC_URL ?? 'http://localhost:8080'] },
      agent: ({ channel }) => ({
        stt: channel === 'twilio' ? aig.stt('deepgram/nova-3', { realtime: true, encoding: 'mulaw' }) : aig.stt('deepgram/nova-3'),
        llm: aig.llm('moonshot/kimi-k2.6', { instructions: 'You are the support line of a radio shop. Be brief.' }),
        tts: aig.tts('elevenlabs/eleven-turbo-v3', { voice: 'rachel' }),
        hangUpPhrases: ['goodbye'],
      }),
    });
    await server.listen(Number(process.env.PORT ?? 8080));
  },
});
// #endregion
