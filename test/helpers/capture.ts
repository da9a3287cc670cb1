import type { DestinationStream } from '@cma-fleet/shared';

/** A log destination that keeps every line, for tests that read what was logged. */
export function captureLines(): DestinationStream & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    write(line: string) {
      lines.push(line);
    },
  };
}
