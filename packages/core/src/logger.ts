import type { LameduckLogger } from './types.js';

function format(level: string, obj: object, msg: string | undefined): string {
  const fields = Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  return `lameduck ${level}${msg ? `: ${msg}` : ''}${fields ? ` ${fields}` : ''}\n`;
}

/**
 * The default logger: one short line per shutdown phase on stderr, nothing while the server runs.
 * Operators read shutdown logs after the fact (`kubectl logs --previous`, journald), so silence by
 * default would hide the one moment they need to see; `logger: false` turns it off.
 */
export function stderrLogger(): LameduckLogger {
  const write = (level: string) => (obj: object, msg?: string) => {
    process.stderr.write(format(level, obj, msg));
  };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}

const noop = () => {};

export const silentLogger: LameduckLogger = { info: noop, warn: noop, error: noop, debug: noop };
