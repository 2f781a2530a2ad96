import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsMaterial {
  key: string;
  cert: string;
}

/**
 * A throwaway self-signed key and certificate for `localhost` and 127.0.0.1, made with the `openssl` on
 * PATH so that no key is committed. It is its own CA: pass `cert` as `ca` to verify it, or turn
 * verification off. Returns undefined when openssl is missing.
 */
export function selfSignedCert(): TlsMaterial | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'lameduck-testkit-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** {@link selfSignedCert} for tests that cannot run without TLS: throws, naming openssl, when it is missing. */
export function requireSelfSignedCert(): TlsMaterial {
  const material = selfSignedCert();
  if (material === undefined) throw new Error('these tests need openssl on PATH to make a TLS certificate');
  return material;
}
