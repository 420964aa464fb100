// What happens to a deployment, as the executor records it and the pages, API and CLI show it.

export type EventType = 'deployment' | 'step.started' | 'step.finished' | 'step.failed' | 'step.retry' | 'log';

export interface DeploymentEvent {
  id: number;
  deploymentId: string;
  at: string;
  type: EventType;
  stepKey: string | null;
  message: string;
}
