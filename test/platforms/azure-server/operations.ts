// Long-running operations as ARM runs them: the first answer (201 for PUT, 202 for DELETE and actions) carries an
// Azure-AsyncOperation URL (a status monitor: InProgress, then Succeeded/Failed/Canceled with the error) and/or a
// Location URL (202 while running, then the operation's own result, or its error with its status code).
// Operations finish lazily: every request first settles whatever is due, so no timer outlives the server.
import crypto from 'node:crypto';
import type { ArmErrorBody } from './arm-error.ts';
import type { Clock } from './clock.ts';

export type OperationStatus = 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled';

export interface Operation {
  id: string;
  /** `Microsoft.Network`, `Microsoft.Compute`, or `Microsoft.Resources` (resource group deletion). */
  namespace: string;
  location: string;
  apiVersion: string;
  /** The resource it acts on, so conflicting operations can be refused. */
  target?: string;
  status: OperationStatus;
  startTime: string;
  endTime?: string;
  /** Real time (ms) at which it ends, and how long it takes in Azure's (simulated) time. */
  doneAt: number;
  simMs: number;
  /** Applied when it ends; returns an error to fail it instead. */
  complete: () => ArmErrorBody | void;
  /** An error injected by a fault rule: the operation fails with it (after `fail`, which updates the resource). */
  failure?: ArmErrorBody;
  fail?: (error: ArmErrorBody) => void;
  error?: ArmErrorBody;
  /** What the Location URL answers once it succeeded. */
  result: { status: number; body?: unknown };
  /** Status code the Location URL answers with when it failed. */
  failStatus: number;
}

export interface OperationRegistry {
  start(o: {
    namespace: string;
    location: string;
    apiVersion: string;
    target?: string;
    simMs: number;
    complete: Operation['complete'];
    failure?: ArmErrorBody;
    fail?: Operation['fail'];
    result?: Operation['result'];
  }): Operation;
  get(id: string): Operation | undefined;
  /** Ends every operation whose time has come, in the order they end. */
  settle(): void;
  /** Operations still running. */
  running(): Operation[];
  /** Every operation started so far. */
  all(): Operation[];
  /** The headers of a first answer: Azure-AsyncOperation and/or Location, and Retry-After when configured. */
  headers(
    op: Operation,
    base: string,
    subscriptionId: string,
    which: { async: boolean; location: boolean },
  ): Record<string, string>;
  /** `GET` on an Azure-AsyncOperation URL. */
  statusBody(op: Operation, base: string, subscriptionId: string): Record<string, unknown>;
}

export function createOperations(clock: Clock, retryAfterSec: number | undefined): OperationRegistry {
  const ops = new Map<string, Operation>();
  const asyncUrl = (op: Operation, base: string, sub: string) =>
    op.namespace === 'Microsoft.Resources'
      ? `${base}/subscriptions/${sub}/operationresults/${op.id}?api-version=${op.apiVersion}`
      : `${base}/subscriptions/${sub}/providers/${op.namespace}/locations/${op.location}/operations/${op.id}?api-version=${op.apiVersion}`;
  const locationUrl = (op: Operation, base: string, sub: string) =>
    op.namespace === 'Microsoft.Resources'
      ? `${base}/subscriptions/${sub}/operationresults/${op.id}?api-version=${op.apiVersion}`
      : `${base}/subscriptions/${sub}/providers/${op.namespace}/locations/${op.location}/operationResults/${op.id}?api-version=${op.apiVersion}`;
  return {
    start(o) {
      const op: Operation = {
        id: crypto.randomUUID(),
        namespace: o.namespace,
        location: o.location,
        apiVersion: o.apiVersion,
        ...(o.target ? { target: o.target } : {}),
        status: 'InProgress',
        startTime: new Date().toISOString(),
        doneAt: clock.now() + clock.real(o.simMs),
        simMs: o.simMs,
        complete: o.complete,
        ...(o.failure ? { failure: o.failure } : {}),
        ...(o.fail ? { fail: o.fail } : {}),
        result: o.result ?? { status: 200 },
        failStatus: 500,
      };
      ops.set(op.id, op);
      return op;
    },
    get: (id) => ops.get(id.toLowerCase()) ?? ops.get(id),
    settle() {
      const due = [...ops.values()]
        .filter((op) => op.status === 'InProgress' && op.doneAt <= clock.now())
        .sort((a, b) => a.doneAt - b.doneAt);
      for (const op of due) {
        const error = op.failure ?? op.complete();
        if (op.failure) op.fail?.(op.failure);
        op.endTime = new Date().toISOString();
        if (error) {
          op.status = 'Failed';
          op.error = error;
          op.failStatus = error.code === 'AllocationFailed' || error.code.startsWith('Internal') ? 500 : 400;
        } else op.status = 'Succeeded';
      }
    },
    running: () => [...ops.values()].filter((op) => op.status === 'InProgress'),
    all: () => [...ops.values()],
    headers(op, base, sub, which) {
      return {
        ...(which.async ? { 'Azure-AsyncOperation': asyncUrl(op, base, sub) } : {}),
        ...(which.location ? { Location: locationUrl(op, base, sub) } : {}),
        ...(retryAfterSec !== undefined ? { 'Retry-After': String(retryAfterSec) } : {}),
      };
    },
    statusBody(op, base, sub) {
      return {
        id: asyncUrl(op, base, sub).replace(base, '').split('?')[0],
        name: op.id,
        status: op.status,
        startTime: op.startTime,
        ...(op.endTime ? { endTime: op.endTime } : {}),
        ...(op.error ? { error: op.error } : {}),
      };
    },
  };
}
