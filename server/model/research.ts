// CVE imports as the pages, the API and the command line follow them: one job per imported file, run in the
// background and kept (with its report) so its state can be asked for until it is long done.

export type CveImportState = 'running' | 'done' | 'failed' | 'interrupted';

/** running -> done (imported, bad records skipped) | failed (nothing readable) | interrupted (its process stopped). */
export const cveImportTransitions: Record<CveImportState, readonly CveImportState[]> = {
  running: ['done', 'failed', 'interrupted'],
  done: [],
  failed: [],
  interrupted: [],
};

export interface CveImportProblem {
  /** The file as its uploader named it (or its path on the appliance). */
  file: string;
  /** Position of the record in a feed's `vulnerabilities` array. */
  index?: number;
  line?: number;
  column?: number;
  id?: string;
  message: string;
}

export interface CveImportCounts {
  records: number;
  added: number;
  updated: number;
  unchanged: number;
  failed: number;
}

export interface CveImportJob {
  id: string;
  state: CveImportState;
  /** `upload`: sent to the page or the API; `feeds`: a file of the appliance's feed folder; `cli`: a local path. */
  origin: 'upload' | 'feeds' | 'cli';
  name: string;
  by: string;
  startedAt: string;
  finishedAt: string | null;
  /** Running totals, then the final ones. */
  counts: CveImportCounts;
  formats: string[];
  skipped: number;
  bytes: number;
  ms: number;
  /** The first problems (each bad record with its position); counts.failed says how many there were. */
  problems: CveImportProblem[];
  /** Where the file stopped being readable: records before it were imported. */
  stoppedAt?: CveImportProblem;
  /** Why the job failed or was interrupted. */
  error?: string;
}
