// What the cross-field checks look at: every part of a file that passed its own schema, with its index in the file,
// so that one bad field does not hide the problems elsewhere (a missing title still lets a cycle be reported).
import type { ScenarioMachine } from '../../../model/scenario.ts';
import type { Path } from '../locate.ts';
import type { RawMachine, RawNetwork, RawRule } from '../schema.ts';

export interface PathIssue {
  path: Path;
  message: string;
}

export interface CheckInput {
  instances: number;
  networks: Array<{ index: number; net: RawNetwork }>;
  machines: Array<{ index: number; raw: RawMachine; norm: ScenarioMachine }>;
  rules: Array<{ index: number; rule: RawRule }>;
  /** Every name the file gives a network or machine, also in items that failed their schema: references to them are not "unknown". */
  networkNames: string[];
  machineNames: string[];
}
