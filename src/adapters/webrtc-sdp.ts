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

/**
 * Asks for Opus DTX (`usedtx=1` on each Opus format of the audio section): the side that reads this
 * SDP as its remote description then sends about one packet per 400 ms in silence instead of 50 a
 * second. Applied to a page's offer (the server's encoder) and to the server's answer (the page's).
 */
export function withOpusDtx(sdp: string): string {
  const lines = sdp.split('\r\n');
  const audio = lines.findIndex((l) => l.startsWith('m=audio '));
  if (audio < 0) return sdp;
  let end = lines.findIndex((l, i) => i > audio && l.startsWith('m='));
  if (end < 0) end = lines.length;
  const opus = new Set<string>();
  for (let i = audio; i < end; i++) {
    const m = /^a=rtpmap:(\d+) opus\/48000/i.exec(lines[i]!);
    if (m) opus.add(m[1]!);
  }
  for (const pt of opus) {
    const i = lines.findIndex((l, k) => k > audio && k < end && l.startsWith(`a=fmtp:${pt} `));
    if (i >= 0) {
      if (!/(^|[ ;])usedtx=/.test(lines[i]!.slice(`a=fmtp:${pt} `.length))) lines[i] += ';usedtx=1';
    } else {
      const at = lines.findIndex((l, k) => k > audio && k < end && l.startsWith(`a=rtpmap:${pt} `));
      lines.splice(at + 1, 0, `a=fmtp:${pt} usedtx=1`);
      end++;
    }
  }
  return lines.join('\r\n');
}
