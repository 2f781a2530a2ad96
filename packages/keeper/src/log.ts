/** How the keeper logs: a level, a message that does not vary, and fields. */
export type KeeperLog = (
  level: 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown>,
) => void;

/** One JSON object per line: what journald, `kubectl logs` and log shippers read without a parser. */
export function jsonLog(stream: NodeJS.WritableStream): KeeperLog {
  return (level, msg, fields = {}) => {
    stream.write(
      `${JSON.stringify({ time: new Date().toISOString(), level, msg, keeper: process.pid, ...fields })}\n`,
    );
  };
}
