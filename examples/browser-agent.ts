// A voice agent in the browser: serve a page and the voxline client module, and run a
// VoiceSession per WebSocket connection. Open http://localhost:8080 and allow the microphone.
// Run: AIGATEWAY_API_KEY=... npx tsx examples/browser-agent.ts
import { createServer } from 'node:http';
import { VoiceSession, gateway } from 'voxline';
import { BROWSER_CLIENT_JS, browserHandler } from 'voxline/adapters';

const aig = gateway({ apiKey: process.env.AIGATEWAY_API_KEY });

const calls = browserHandler({
  allowedOrigins: ['http://localhost:8080'],          // refuse other sites' pages
  authorize: (req) => !!req.headers.cookie?.includes('session='),
  maxCalls: 50,
  onCall: async (call) => {
    await call.started;                                // the page said which rate it plays
    const session = new VoiceSession({
      stt: aig.stt('deepgram/nova-3'),
      llm: aig.llm('moonshot/kimi-k2.6', { instructions: 'You are a friendly web assistant.' }),
      tts: aig.tts('elevenlabs/eleven-turbo-v3', { voice: 'rachel' }),
    });
    call.attach(session);                              // live transcripts in the page
    await session.run({ input: call.input, output: call.output });
  },
});

const page = `<!doctype html><button id="talk">Talk</button><div id="transcript"></div>
<script type="module">
  import { connect } from '/voxline-client.js';
  document.getElementById('talk').onclick = () =>
    connect({ url: 'ws://' + location.host + '/browser', transcript: document.getElementById('transcript') });
</script>`;

const server = createServer((req, res) => {
  if (req.url === '/voxline-client.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(BROWSER_CLIENT_JS);
  res.writeHead(200, { 'content-type': 'text/html', 'set-cookie': 'session=demo; SameSite=Strict' }).end(page);
});
server.on('upgrade', (req, socket, head) => {
  // The calls' path, as in createVoiceServer; any other upgrade is refused.
  if (req.url?.split('?')[0] === '/browser') void calls.handleUpgrade(req, socket, head);
  else socket.destroy();
});
server.listen(8080);
