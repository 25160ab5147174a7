// Whether the swarm runs what a stack deployment asked for. gitops follows each service's update as Swarm reports it
// (UpdateStatus, and every task at the new spec), so a task the swarm rejects (an image that does not exist, no node
// that fits), an update it pauses or rolls back, or a service not running in time is a failed deployment, not a done one.
import { ActivityError } from '../collectors/runtime/errors.ts'
import { forgetDeployed, stackServices } from '../stacks/deploy/deploy.ts'
import { docker } from '../stacks/deploy/docker.ts'
import type { DeploySteps } from './deployer.ts'
import { describeServices, followUpdates } from './follow.ts'

export class RolloutError extends ActivityError {
  constructor(
    readonly stackName: string,
    readonly services: string[],
    problem: string,
    /** Swarm rolled the update back (update_config failure_action: rollback): the stack runs what it ran before. */
    readonly rolledBack = false,
  ) {
    super('', problem, `see docker service ps --no-trunc ${services.join(' ')}`)
  }
}

export interface RolloutOptions {
  /** How long a stack's services may take to run before its deployment counts as failed. */
  timeoutSeconds: number
  pollMs?: number
}

/** The long-running services of a stack (jobs are collector runs: their exit codes are the collectors' health, as in up). */
async function longRunning(stack: string): Promise<string[]> {
  const names = await stackServices(stack)
  if (!names.length) return []
  const modes = (await docker(['service', 'inspect', '--format', '{{.Spec.Name}} {{if .Spec.Mode.ReplicatedJob}}job{{else if .Spec.Mode.GlobalJob}}job{{else}}service{{end}}', ...names])).split('\n')
  return modes.filter((line) => line.endsWith(' service')).map((line) => line.split(' ')[0]!)
}

/** The deployer's awaitStack step on this engine: every long-running service of the stack updated, or the reason it is not. */
export function awaitRollout(options: RolloutOptions): NonNullable<DeploySteps['awaitStack']> {
  return async (stack, since, report, signal) => {
    // Deploying the gitops stack replaces this very process: nobody is left to wait.
    if (stack === 'gitops') return
    const services = await longRunning(stack)
    if (!services.length) return
    const followed = await followUpdates(services, { since, timeoutMs: options.timeoutSeconds * 1000, pollMs: options.pollMs, report, signal })
    const failed = followed.flatMap(({ name, verdict }) => (verdict.done && !verdict.ok ? [{ name, ...verdict }] : []))
    if (!failed.length) return
    // What the swarm runs is not what was deployed: a retry of this commit deploys it again, and is followed again.
    await forgetDeployed(stack)
    const rolledBack = failed.every((f) => f.rolledBack)
    // Said as `app_nginx rolled back by Swarm: <Swarm's message>`, or `the swarm does not run it: app_x FAILED: <why>`.
    const problems = failed.map((f) => (f.rolledBack ? `${f.name} ${f.problem}` : `${f.name} FAILED: ${f.problem}`)).join('; ')
    throw new RolloutError(stack, failed.map((f) => f.name), rolledBack ? problems : `the swarm does not run it: ${problems}`, rolledBack)
  }
}

/** The deployer's describe step: every service of the stacks, as the ledger records them. */
export async function describeStacks(stacks: string[]): Promise<Awaited<ReturnType<typeof describeServices>>> {
  const names = (await Promise.all(stacks.map((stack) => stackServices(stack)))).flat()
  return describeServices(names)
}
