// A problem in an input (a scenario file, a form, a request body), located as precisely as the input allows.

export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/** One problem in an input, located as precisely as the input allows. */
export interface InputIssue {
  path: string;
  message: string;
  at?: SourceLocation;
}
