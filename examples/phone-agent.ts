// A phone agent on Twilio: answer the call's webhook with TwiML that opens a media stream to this
// server, and run a VoiceSession per call. Expose it with a public HTTPS/WSS URL (PUBLIC_HOST).
// Run: AIGATEWAY_API_KEY=... TWILIO_AUTH_TOKEN=... PUBLIC_HOST=agent.example.com npx tsx examples/phone-agent.ts
import { createServer } from 'node:http';
import { VoiceSession, gateway } from 'voxline';
import { twilioHandler, twiml } from 'voxline/adapters';

const host = process.env.PUBLIC_HOST ?? 'localhost:8080';
const aig = gateway({ apiKey: process.env.AIGATEWAY_API_KEY });

// #region phone
const media = twilioHandler({
  authToken: process.env.TWILIO_AUTH_TOKEN,            // checks X-Twilio-Signature
  publicUrl: `wss://${host}/media`,
  onCall: async (call) => {
    const { callSid } = await call.started;
    const session = new VoiceSession({
      stt: aig.stt('deepgram/nova-3', { realtime: true, encoding: 'mulaw' }),   // the call's own 8 kHz mu-law
      llm: aig.llm('moonshot/kimi-k2.6', { instructions: 'You answer the phone for a radio shop. Be brief.' }),
      tts: aig.tts('elevenlabs/eleven-turbo-v3', { voice: 'rachel' }),
      greeting: 'Hello, radio shop, how can I help?',
      hangUpPhrases: ['goodbye'],
    });
    call.on('dtmf', (digit) => console.log(callSid, 'pressed', digit));
    await session.run({ input: call.input, output: call.output });
  },
});

const server = createServer((req, res) => {
  // Twilio's voice webhook: connect the call to the media stream.
  res.writeHead(200, { 'content-type': 'text/xml' }).end(twiml(`wss://${host}/media`));
});
server.on('upgrade', (req, socket, head) => media.handleUpgrade(req, socket, head));
server.listen(8080);
// #endregion
