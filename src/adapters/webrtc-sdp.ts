import { ProtocolError } from '../errors';

/** Largest SDP offer `/webrtc` reads (default of `maxOfferBytes`). */
export const MAX_OFFER_BYTES = 64 * 1024;

/**
 * Checks that an offer is SDP with an audio section that offers Opus at 48 kHz, before it reaches
 * the WebRTC stack: a ProtocolError says what is wrong (the endpoint answers it with 400).
 */
export function checkOffer(sdp: string): void {
  const refuse = (why: string) => new ProtocolError(`the offer ${why}`, { provider: 'webrtc' });
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines[0] !== 'v=0' || !lines.some((l) => l.startsWith('o=')) || !lines.some((l) => l.startsWith('m='))) throw refuse('is not SDP (it must start with v=0 and have o= and m= lines)');
  const audio = lines.findIndex((l) => l.startsWith('m=audio '));
  if (audio < 0) throw refuse('has no audio section (m=audio)');
  const end = lines.findIndex((l, i) => i > audio && l.startsWith('m='));
  const section = lines.slice(audio, end < 0 ? undefined : end);
  const formats = new Set(lines[audio]!.split(' ').slice(3));
  const opus = section.some((l) => {
    const m = /^a=rtpmap:(\d+) opus\/48000(\/\d)?$/i.exec(l.trim());
    return m !== null && formats.has(m[1]!);
  });
  if (!opus) throw refuse('does not offer Opus at 48 kHz in its audio section (a=rtpmap:<pt> opus/48000/2)');
}

/**
 * Announces `publicIp` in an answer: each host candidate gets a twin with the public address and
 * the same port (a 1:1 NAT, as in a cloud VM), listed first.
 */
export function announcePublicIp(sdp: string, publicIp: string): string {
  const out: string[] = [];
  for (const line of sdp.split('\r\n')) {
    const m = /^a=candidate:(\S+) (\d+) (\S+) (\d+) (\S+) (\d+) typ host(.*)$/.exec(line);
    if (m && m[5] !== publicIp) out.push(`a=candidate:9${m[1]} ${m[2]} ${m[3]} ${Number(m[4]) + 1} ${publicIp} ${m[6]} typ host${m[7]}`);
    out.push(line);
  }
  return out.join('\r\n');
}
