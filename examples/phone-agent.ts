// A phone agent on Twilio: answer the call's webhook with TwiML that opens a media stream to this
// server, and run a VoiceSession per call. Expose it with a public HTTPS/WSS URL (PUBLIC_HOST).
// Run: AIGATEWAY_API_KEY=... TWILIO_AUTH_TOKEN=... PUBLIC_HOST=agent.example.com npx tsx examples/phone-agent.ts
import { createServer } from 'node:http';
import { VoiceSession, gateway } from 'voxline';
import { twilioHandler, twiml, validateTwilioSignature } from 'voxline/adapters';

const host = process.env.PUBLIC_HOST ?? 'localhost:8080';
const authToken = process.env.TWILIO_AUTH_TOKEN ?? '';      // required: twilioHandler refuses to start without it
const aig = gateway({ apiKey: process.env.AIGATEWAY_API_KEY });

const media = twilioHandler({
  authToken,                                           // checks X-Twilio-Signature on every upgrade
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
  // Twilio's voice webhook (a signed POST): connect the call to the media stream.
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const params = Object.fromEntries(new URLSearchParams(body));
    const signature = req.headers['x-twilio-signature'] as string | undefined;
    if (req.method !== 'POST' || !validateTwilioSignature(authToken, `https://${host}${req.url}`, params, signature)) return void res.writeHead(403).end();
    res.writeHead(200, { 'content-type': 'text/xml' }).end(twiml(`wss://${host}/media`));   // never a URL from a request header
  });
});
server.on('upgrade', (req, socket, head) => media.handleUpgrade(req, socket, head));
server.listen(8080);
