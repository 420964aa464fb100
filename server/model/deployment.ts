// A deployment as its readers see it: the record, its plan, each step and each created resource, and per machine
// the summary the pages, the API and `glassdome status` show. The scenario text and the secret never appear here.
import type { Plan } from './plan.ts';
import type { DeploymentState, StepState } from './states.ts';

export interface StepView {
  key: string;
  kind: string;
  target: string;
  state: StepState;
  attempts: number;
  startedAt: string | null;
  endedAt: string | null;
  error: string | null;
}

export interface ResourceView {
  key: string;
  kind: string;
  name: string;
  externalId: string | null;
  addresses: string[] | null;
  state: string;
  updatedAt: string;
}

export interface DeploymentSummary {
  id: string;
  scenarioName: string;
  platformId: string;
  instances: number;
  state: DeploymentState;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface DeploymentView extends DeploymentSummary {
  scenarioFile: string;
  leaseOwner: string | null;
  leaseUntil: number | null;
  updatedAt: string;
  plan: Plan;
  steps: StepView[];
  resources: ResourceView[];
}

export interface MachineStatus {
  key: string;
  hostname: string;
  instance: number;
  role: 'machine' | 'router';
  os: string;
  /** `ready`, `failed`, `skipped`, `pending`, `destroyed`, or the kind of the step running now. */
  state: string;
  platformId: string | null;
  resourceName: string;
  addresses: string[];
  plannedAddresses: string[];
  steps: Array<{
    kind: string;
    state: StepState;
    attempts: number;
    startedAt: string | null;
    endedAt: string | null;
    error: string | null;
  }>;
}
