// Deployment and step states as explicit unions, each with one transition table.
import { AppError } from '../errors.ts';

export type DeploymentState =
  | 'pending'
  | 'deploying'
  | 'ready'
  | 'failed'
  | 'cancelling'
  | 'cancelled'
  | 'destroying'
  | 'destroyed'
  | 'destroy_failed';

export const deploymentTransitions: Record<DeploymentState, DeploymentState[]> = {
  pending: ['deploying', 'cancelled', 'destroying'],
  deploying: ['ready', 'failed', 'cancelling', 'destroying'],
  ready: ['deploying', 'destroying'],
  failed: ['deploying', 'destroying'],
  cancelling: ['cancelled', 'destroying'],
  cancelled: ['deploying', 'destroying'],
  destroying: ['destroyed', 'destroy_failed'],
  destroy_failed: ['destroying'],
  destroyed: [],
};

/** States in which a process is (or should be) working on the deployment. */
export const activeDeploymentStates: readonly DeploymentState[] = ['pending', 'deploying', 'cancelling', 'destroying'];

/** States a deployment rests in: no process works on it until someone acts. */
export const restingDeploymentStates: readonly DeploymentState[] = [
  'ready',
  'failed',
  'cancelled',
  'destroyed',
  'destroy_failed',
];

export type StepState = 'pending' | 'running' | 'done' | 'failed' | 'skipped' | 'cancelled';

export const stepTransitions: Record<StepState, StepState[]> = {
  pending: ['running', 'skipped', 'cancelled'],
  // running -> pending: a crash interrupted it; it is run again, idempotently.
  running: ['done', 'failed', 'pending', 'cancelled'],
  done: [],
  failed: ['pending'],
  skipped: ['pending'],
  cancelled: ['pending'],
};

export function assertDeploymentTransition(id: string, from: DeploymentState, to: DeploymentState): void {
  if (!deploymentTransitions[from].includes(to))
    throw new AppError('conflict', `Unable to move deployment ${id} from ${from} to ${to}`, {
      hint:
        from === 'destroyed'
          ? 'It has been destroyed; deploy the scenario again.'
          : `Allowed from ${from}: ${deploymentTransitions[from].join(', ') || 'nothing'}.`,
    });
}
