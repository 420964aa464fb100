// One error type for the whole process: a code, a message naming the object, a hint for the user, the cause kept.
// Handlers, the step runner and the overseer turn it into a response, a state or a finding.
import type { InputIssue } from './model/issues.ts';

export const errorStatus = {
  invalid_input: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  platform_error: 502,
  transient: 503,
  timeout: 504,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly issues?: InputIssue[];

  constructor(
    code: ErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown; issues?: InputIssue[] } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.hint = options.hint;
    this.issues = options.issues;
  }

  get status(): number {
    return errorStatus[this.code];
  }

  /** Transient errors are the only ones worth retrying. */
  get retryable(): boolean {
    return this.code === 'transient' || this.code === 'rate_limited' || this.code === 'timeout';
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

export function formatIssue(issue: InputIssue): string {
  const where = issue.at ? `${issue.at.file}:${issue.at.line}:${issue.at.column}: ` : '';
  return `${where}${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

/** Message of any thrown value, for logs and stored step errors. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
