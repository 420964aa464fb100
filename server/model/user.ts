// Who may sign in, and with which role: admin (everything), instructor (scenarios, deployments, their trainees),
// trainee (only the instances assigned to them).

export const roles = ['admin', 'instructor', 'trainee'] as const;
export type Role = (typeof roles)[number];

export interface User {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
}
