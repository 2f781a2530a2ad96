/** A bad command line: reported as one line on stderr, exit 2. */
export class UsageError extends Error {
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

const WORKER = `The command after -- is the worker. It must take its sockets from the keeper: a node app
calls lameduck.listen(server, 8080) where it would call server.listen(8080) or app.listen(8080)
(the same line binds the port itself when no keeper runs it); any other program must speak systemd
socket activation (LISTEN_FDS, LISTEN_FDNAMES, descriptors from 3). A worker that never does is
reported when --ready-timeout passes.`;

const LAUNCH = `Start the keeper itself so that signals reach it: node_modules/.bin/lameduck, node
node_modules/.bin/lameduck, or exec in a script; not npx or npm start, which do not pass SIGTERM or
SIGHUP on. The restart guide (docs/restart.md) has the systemd unit and the Dockerfile.`;

export const HELP = `lameduck: zero-downtime restarts for node servers

Usage:
  lameduck run [options] -- <command> [args...]   hold the sockets and run workers on them
  lameduck reload [--control PATH] [--json]        start a new generation, wait for the outcome
  lameduck status [--control PATH] [--json]        generations, workers, drain progress
  lameduck <command> --help                        options of one command
  lameduck --version

Example:
  lameduck run --listen :8080 --workers 2 -- node server.js
  lameduck reload

${WORKER}

${LAUNCH}
`;

export const RUN_HELP = `Usage: lameduck run [options] -- <command> [args...]

Holds the listening sockets and runs workers on them, passing the sockets the way systemd does
(descriptors from 3, LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID); sockets inherited from systemd socket
activation are passed on too. SIGHUP or \`lameduck reload\` starts a new generation and drains the old
one only once every new worker is ready; SIGTERM or SIGINT drain every worker and exit.

Options:
  --listen [NAME=]ADDR   bind ADDR (repeatable): :8080 or 8080 (every interface), 127.0.0.1:8080,
                         [::1]:8080, /run/app.sock; NAME= names it for lameduck.listen(server, 'NAME')
  --workers N            workers per generation (default 1)
  --ready-timeout T      time a generation has to report ready (default 30s)
  --drain-timeout T      time a worker has to drain before SIGKILL (default 30s)
  --settle T             time a new generation must stay up after ready (default 1s)
  --max-draining N       old generations draining side by side (default 2)
  --control PATH         control socket for reload and status (default $LAMEDUCK_CONTROL,
                         $XDG_RUNTIME_DIR/lameduck.sock or <tmpdir>/lameduck-<uid>.sock)
  -h, --help             this help
  T is a number of seconds, or a number with ms, s or m: 500ms, 30s, 2m.

Example:
  lameduck run --listen :8080 --workers 2 --drain-timeout 20s -- node server.js

${WORKER}

Exit codes: 0 every worker drained, 1 a worker was killed at the drain timeout or exited non-zero
while draining, 2 bad arguments, 3 sockets or control socket unavailable, 4 the first generation
never became ready, 5 nothing left that can serve, 128+N a second signal N.

${LAUNCH}
`;

export const RELOAD_HELP = `Usage: lameduck reload [--control PATH] [--json]

Asks the keeper for a reload and waits for the outcome: a new generation of workers starts, and the
old one drains once every new worker reported ready and stayed up for --settle. A reload asked for
before the first generation serves runs once it does. Same as SIGHUP to the keeper, with an answer.

Options:
  --control PATH   the keeper's control socket (default as for run)
  --json           print the keeper's answer as JSON
  -h, --help       this help

Exit codes: 0 the new generation serves, 1 rolled back (the reason is on stderr), 2 bad arguments,
3 no keeper answers on the control socket.
`;

export const STATUS_HELP = `Usage: lameduck status [--control PATH] [--json]

Shows the keeper, its sockets, and each generation with its workers: PIDs, state, uptime, restarts,
and for each worker the requests in flight and connections open (a draining generation's progress).

Options:
  --control PATH   the keeper's control socket (default as for run)
  --json           the same as JSON, for scripts
  -h, --help       this help

Exit codes: 0 done, 2 bad arguments, 3 no keeper answers on the control socket.
`;

const EXAMPLES: Record<string, string> = {
  listen: ':8080',
  workers: '2',
  'ready-timeout': '30s',
  'drain-timeout': '30s',
  settle: '1s',
  'max-draining': '2',
  control: '/run/myapp/control.sock',
};

/**
 * Turns one of node's `parseArgs` errors (several sentences, sometimes over two lines) into one line
 * that says what to type instead; undefined for any other error.
 */
export function parseArgsUsage(error: unknown, command: string): UsageError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return undefined;
  const message = String((error as Error).message);
  const option = /'(-{1,2}[\w-]+)/.exec(message)?.[1];
  const name = option?.replace(/^-+/, '');
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option !== undefined) {
    if (/does not take an argument/.test(message)) {
      return new UsageError(`${option} takes no value`, command);
    }
    const example =
      name !== undefined && EXAMPLES[name] !== undefined ? `, for example ${option} ${EXAMPLES[name]}` : '';
    return new UsageError(`${option} needs a value${example}`, command);
  }
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined) {
    return new UsageError(`lameduck ${command} has no option ${option}`, command);
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const arg = /'([^']*)'/.exec(message)?.[1];
    return new UsageError(
      `lameduck ${command} takes no argument${arg === undefined ? 's' : ` ${JSON.stringify(arg)}`}`,
      command,
    );
  }
  return new UsageError(message.split('\n')[0] ?? message, command);
}
