import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import { SECRET_PATTERNS, secretForms } from './secrets.js';

export type { DestinationStream, Logger } from 'pino';

export interface LoggerSettings {
  /** Component name, written as `name` on every line. */
  name: string;
  level: string;
  /** Secret values known to this process; any line containing one has it replaced. */
  secrets?: Array<string | undefined>;
  /** Where lines go; standard output when omitted. */
  destination?: DestinationStream;
}

const REDACTED = '[redacted]';

/** Field paths that hold credentials wherever they appear in a logged object. */
const REDACT_PATHS = [
  'apiKey',
  'api_key',
  'token',
  'secret',
  'password',
  'authorization',
  '*.apiKey',
  '*.api_key',
  '*.token',
  '*.secret',
  '*.password',
  '*.authorization',
  'headers["x-api-key"]',
  'headers.authorization',
  'headers["webhook-signature"]',
  'env.ANTHROPIC_ENVIRONMENT_KEY',
];

/** Replaces every known secret value and every credential-shaped string in a serialised line. */
export function createScrubber(secrets: Array<string | undefined>): (line: string) => string {
  const forms = secrets.flatMap(secretForms).sort((a, b) => b.length - a.length);
  return (line) => {
    let out = line;
    for (const form of forms) {
      if (out.includes(form)) out = out.split(form).join(REDACTED);
    }
    for (const pattern of SECRET_PATTERNS) {
      pattern.lastIndex = 0;
      if (pattern.test(out)) out = out.replace(pattern, REDACTED);
    }
    return out;
  };
}

/**
 * A JSON-lines logger that cannot print a secret: known field paths are redacted, and every
 * written line is scrubbed of the configured secret values and of credential-shaped strings.
 */
export function createLogger(settings: LoggerSettings): Logger {
  const scrub = createScrubber(settings.secrets ?? []);
  const options: LoggerOptions = {
    name: settings.name,
    level: settings.level,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    hooks: { streamWrite: scrub },
    base: { pid: process.pid },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}
