import type { Request } from 'express';
import { bodyForRecord, parseBody, queryOf } from './request-body.js';
import type { RecordedRequest } from './types.js';

/** Every InstaVM API request the fake received, in arrival order. */
export class RequestLog {
  private entries: RecordedRequest[] = [];

  record(req: Request, at: number): void {
    this.entries.push({
      method: req.method,
      path: req.path,
      query: queryOf(req),
      headers: flattenHeaders(req.headers),
      body: bodyForRecord(parseBody(req)),
      at,
    });
  }

  /** Copies, so a test cannot change what the fake remembers. */
  all(): RecordedRequest[] {
    return structuredClone(this.entries);
  }

  clear(): void {
    this.entries = [];
  }
}

/** Node already lower-cases header names; repeated headers are joined as HTTP allows. */
function flattenHeaders(headers: Request['headers']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}
