// What happens to a deployment, as the executor records it and the pages, API and CLI show it.

export type EventType =
  | 'deployment'
  | 'step.started'
  | 'step.finished'
  | 'step.failed'
  | 'step.retry'
  | 'log'
  /** What the overseer saw change (power, guest agent, addresses, the router) or did (a fix, a stop, a reset). */
  | 'overseer';

export interface DeploymentEvent {
  id: number;
  deploymentId: string;
  at: string;
  type: EventType;
  stepKey: string | null;
  message: string;
}
