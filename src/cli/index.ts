#!/usr/bin/env node
// The `voxline` command of the installed package: `npx voxline demo`, `npx voxline doctor`.
import { parseArgs } from 'node:util';
import { runDemo } from './demo';
import { runDoctor } from './doctor';

const HELP = {
  main: `Usage: voxline <command> [options]

Commands:
  demo     a scripted caller phones a voxline agent on local emulators (no keys, no network)
  doctor   what this machine has for voxline: Node.js, SoX and sound cards, espeak-ng, keys, providers

Run \`voxline <command> --help\` for a command's options.
`,
  demo: `Usage: voxline demo [--fast] [--mic] [--out <folder>]

A scripted caller speaks five lines to a VoiceSession: a tool call, a barge-in, a goodbye. It prints
the conversation live and a latency table, and writes conversation.wav (caller left, agent right),
transcript.json and timeline.svg into the current folder.

Providers are the local emulators at the reference latency budget (140/320/180 ms) unless keys
are set: AIGATEWAY_API_KEY (all three stages through the gateway), or DEEPGRAM_API_KEY,
OPENAI_API_KEY and ELEVENLABS_API_KEY (optional OPENAI_BASE_URL, LLM_MODEL, ELEVENLABS_VOICE_ID).
Without the optional espeak-ng package, a tone voice speaks instead of eSpeak NG.

Options:
  --fast          run the emulated call on a virtual clock, in a fraction of its real time
  --mic           be the caller yourself through your microphone and speaker (needs SoX)
  --out <folder>  where the three files go (default: the current folder)
  -h, --help      this help
`,
  doctor: `Usage: voxline doctor [--timeout <ms>]

Checks Node.js, SoX and the sound cards, the optional espeak-ng package, which provider keys are set
(names only, never values), and whether each configured provider answers: a WebSocket upgrade
closed before anything is sent, or a models list, so nothing is billed. Base URLs are read from
AIGATEWAY_BASE_URL, DEEPGRAM_BASE_URL, OPENAI_BASE_URL, ELEVENLABS_BASE_URL and CARTESIA_BASE_URL.
Each line says what to do. Exits with 1 when something stops voxline from working.

Options:
  --timeout <ms>  how long each provider may take to answer (default 5000)
  -h, --help      this help
`,
};

/** Runs the command line `argv` (without node and the script); resolves with the exit code. */
async function main(argv: string[]): Promise<number> {
  const out = (text: string) => void process.stdout.write(text);
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    out(HELP.main);
    return command === undefined ? 1 : 0;
  }
  if (command !== 'demo' && command !== 'doctor') {
    process.stderr.write(`voxline: unknown command '${command}'\n\n${HELP.main}`);
    return 1;
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    values = parseArgs({
      args: rest,
      options: command === 'demo'
        ? { fast: { type: 'boolean' }, mic: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }
        : { timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (err) {
    process.stderr.write(`voxline ${command}: ${(err as Error).message}\n\n${HELP[command]}`);
    return 1;
  }
  if (values.help) {
    out(HELP[command]);
    return 0;
  }
  if (command === 'demo') {
    await runDemo({ fast: values.fast === true, mic: values.mic === true, outDir: String(values.out ?? '.'), env: process.env, tty: process.stdout.isTTY === true, write: out });
    return 0;
  }
  const timeoutMs = Number(values.timeout ?? 5000);
  if (!(timeoutMs > 0)) {
    process.stderr.write(`voxline doctor: --timeout must be a number of milliseconds above 0\n`);
    return 1;
  }
  return (await runDoctor({ env: process.env, timeoutMs, write: out })) ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => void (process.exitCode = code),
  (err: Error) => {
    process.stderr.write(`voxline: ${err.name}: ${err.message}\n`);
    process.exitCode = 1;
  },
);
