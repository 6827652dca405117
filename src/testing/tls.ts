/**
 * The emulators' TLS mode: the certificate they serve `https:` and `wss:` with. `tls: true` makes a
 * self-signed one for localhost, 127.0.0.1 and ::1 with the optional package `selfsigned`, loaded
 * here only when an emulator starts in TLS mode, so `import 'voxline'` and `voxline/testing`
 * without TLS never load it.
 */
import { ConfigError } from '../errors';

/** A key and certificate (PEM) an emulator serves TLS with, and what a client should trust. */
export interface EmulatorTlsCertificate {
  /** The private key (PEM). */
  key: string;
  /** The certificate, or the chain from it up (PEM). */
  cert: string;
  /** The certificate a client trusts to reach the emulator (PEM); default `cert` (a self-signed certificate is its own CA). */
  ca?: string | undefined;
}

type Generate = (typeof import('selfsigned'))['generate'];

let shared: Promise<Required<EmulatorTlsCertificate>> | undefined;

/**
 * The process's self-signed certificate for localhost, 127.0.0.1 and ::1 (ECDSA P-256, SHA-256,
 * valid from an hour ago for a year), made once by the optional package `selfsigned` and shared by
 * every emulator started with `tls: true`, so one CA file trusts them all.
 * @throws ConfigError when `selfsigned` cannot be loaded.
 */
export function localCertificate(): Promise<Required<EmulatorTlsCertificate>> {
  shared ??= makeCertificate().catch((err: unknown) => {
    shared = undefined;
    throw err;
  });
  return shared;
}

async function makeCertificate(): Promise<Required<EmulatorTlsCertificate>> {
  let generate: Generate;
  try {
    const mod = await import('selfsigned');
    generate = mod.generate ?? (mod as unknown as { default: { generate: Generate } }).default.generate;
  } catch (err) {
    throw new ConfigError('An emulator started with `tls: true` makes its certificate with the optional package selfsigned, which could not be loaded: npm install --save-dev selfsigned (or pass your own `tls: { key, cert }`)', { cause: err });
  }
  const notBeforeDate = new Date(Date.now() - 3_600_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + 365 * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  });
  return { key: pems.private, cert: pems.cert, ca: pems.cert };
}
