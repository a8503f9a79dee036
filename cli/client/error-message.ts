/**
 * Error text as kubectl prints it (`cmdutil.CheckErr` / `StandardErrorMessage`), so that scripts and
 * habits built on kubectl's messages keep working:
 *
 *   Error from server (NotFound): deployments.apps "x" not found
 *   The Deployment "web" is invalid: spec.replicas: Invalid value: -1: must be …
 *   error: You must be logged in to the server (Unauthorized)
 *   error: <anything else>
 */

import { isApiError, type Status } from '../../api/status.js';
import { errorMessage } from '../../lib/errors.js';

/** The text kubectl prints for a failed API call, newline-terminated. */
export function formatStatusError(status: Status): string {
  const details = status.details;
  if (status.reason === 'Invalid' && details !== undefined) {
    let prefix = 'The request is invalid';
    const causes = details.causes ?? [];
    if ((details.kind ?? '') !== '' || (details.name ?? '') !== '') {
      prefix = `The ${details.kind ?? ''} ${JSON.stringify(details.name ?? '')} is invalid`;
    } else if (status.message !== '' && causes.length === 0) {
      prefix += `: ${status.message}`;
    }
    if (causes.length === 0) return `${prefix}\n`;
    const lines = causes.map((c) => `${c.field ?? ''}: ${c.message ?? ''}`);
    if (lines.length === 1) return `${prefix}: ${lines[0] ?? ''}\n`;
    return `${prefix}: \n${lines.map((l) => `* ${l}\n`).join('')}`;
  }
  if (status.reason === 'Unauthorized')
    return `error: You must be logged in to the server (${status.message})\n`;
  if (status.reason !== '') return `Error from server (${status.reason}): ${status.message}\n`;
  return `Error from server: ${status.message}\n`;
}

/** kubectl's text for any error a verb hits. */
export function formatError(err: unknown): string {
  if (isApiError(err)) return formatStatusError(err.status);
  const message = errorMessage(err);
  return message.startsWith('The connection to the server') ? `${message}\n` : `error: ${message}\n`;
}

/** A Status with its message prefixed the way kubectl's `AddSourceToErr` does (`error when creating "f": …`). */
export function withSource(status: Status, verb: string, source: string): Status {
  if (source === '') return status;
  return { ...status, message: `error when ${verb} ${JSON.stringify(source)}: ${status.message}` };
}
