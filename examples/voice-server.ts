// A production voice server: phone calls and browsers, one process per core, health, readiness,
// Prometheus metrics, graceful drain on SIGTERM. Put it behind any load balancer (docs/deployment.md).
// Run: AIGATEWAY_API_KEY=... PUBLIC_URL=https://agent.example.com TWILIO_AUTH_TOKEN=... CALL_TOKEN=... npx tsx examples/voice-server.ts
import { gateway } from 'voxline';
import { createVoiceServer, runCluster } from 'voxline/server';

const { PUBLIC_URL = 'http://localhost:8080', TWILIO_AUTH_TOKEN, CALL_TOKEN } = process.env;

runCluster({
  workers: Number(process.env.WORKERS ?? 0) || undefined,       // default: one per core
  start: async () => {
    const aig = gateway({ apiKey: process.env.AIGATEWAY_API_KEY });
    const server = createVoiceServer({
      maxCalls: 100,                                           // per worker; then 503 so the balancer retries elsewhere
      drainTimeoutMs: 30_000,
      handleSignals: true,                                     // SIGTERM: stop taking calls, let them finish
      // Phone calls: the stream URL comes from publicUrl; Twilio's signature is checked on every request.
      twilio: TWILIO_AUTH_TOKEN ? { publicUrl: PUBLIC_URL, authToken: TWILIO_AUTH_TOKEN } : undefined,
      browser: {
        allowedOrigins: [PUBLIC_URL],                          // other sites' pages, and clients with no Origin, are refused
        // Your app's check (a session cookie, a signed token): here a token in the URL's query.
        authorize: (req) => !!CALL_TOKEN && new URL(req.url ?? '/', PUBLIC_URL).searchParams.get('token') === CALL_TOKEN,
      },
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
