// Whether the swarm runs what a stack deployment asked for. gitops waits for it as `npm run up` does, so a task the
// swarm rejects (an image that does not exist, no node that fits), an update it pauses or rolls back, or a service not
// running in time is a failed deployment, not a done one.
import { ActivityError } from '../collectors/runtime/errors.ts'
import { describe, serviceStates, waitForServices } from '../stacks/deploy/converge.ts'
import { stackServices } from '../stacks/deploy/deploy.ts'
import type { DeploySteps } from './deployer.ts'

export class RolloutError extends ActivityError {
  constructor(
    readonly stackName: string,
    readonly services: string[],
    problem: string,
  ) {
    super('', problem, `see docker service ps --no-trunc ${services.join(' ')}`)
  }
}

export interface RolloutOptions {
  /** How long a stack's services may take to run before its deployment counts as failed. */
  timeoutSeconds: number
  pollMs?: number
}

/** The deployer's awaitStack step on this engine: every long-running service of the stack runs, or the reason it does not. */
export function awaitRollout(options: RolloutOptions): NonNullable<DeploySteps['awaitStack']> {
  return async (stack, since, report) => {
    // Deploying the gitops stack replaces this very process: nobody is left to wait.
    if (stack === 'gitops') return
    // Jobs are collector runs: their exit codes are the collectors' health, not the deployment's (as in up).
    const services = (await serviceStates(await stackServices(stack), since)).filter((s) => s.kind !== 'job').map((s) => s.name)
    if (!services.length) return
    const states = await waitForServices(services, { timeoutMs: options.timeoutSeconds * 1000, since, progress: report, pollMs: options.pollMs })
    const failed = states.filter((s) => s.failed)
    if (!failed.length) return
    const problems = failed.map((s) => `${s.name} ${describe(s)}${s.problem ? `: ${s.problem}` : ''}`)
    throw new RolloutError(stack, failed.map((s) => s.name), `the swarm does not run it: ${problems.join('; ')}`)
  }
}
