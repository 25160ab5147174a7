// Whether the swarm runs what was deployed: each service's tasks running, each job's tasks complete; waiting for it with progress.
import { docker } from './docker.ts'

interface ServiceJson {
  ID: string
  Spec: {
    Name: string
    Labels?: Record<string, string>
    Mode: { Replicated?: { Replicas?: number }; Global?: object; ReplicatedJob?: { TotalCompletions?: number }; GlobalJob?: object }
  }
  UpdateStatus?: { State?: string; Message?: string }
  JobStatus?: { JobIteration?: { Index?: number }; LastExecution?: string }
}

export interface TaskJson {
  ID: string
  ServiceID: string
  Slot?: number
  CreatedAt: string
  DesiredState: string
  JobIteration?: { Index?: number }
  Status: { Timestamp: string; State: string; Message?: string; Err?: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number } }
}

export type ServiceKind = 'replicated' | 'global' | 'job'

export interface ServiceState {
  name: string
  stack: string
  kind: ServiceKind
  /** Running (services) or completed (jobs) tasks, and how many are wanted. */
  done: number
  wanted: number
  ready: boolean
  /** Why it is not ready, when the swarm says (task error, update paused). */
  problem?: string
  /** For jobs: the exit code of the latest finished task of the current run. */
  exitCode?: number
  failed: boolean
  /** When the latest task of the current run finished (jobs). */
  finishedAt?: string
  /** The task whose logs tell what went wrong: the latest failed one, or for jobs the latest finished one. */
  telling?: string
  tasks: TaskJson[]
}

const live = new Set(['new', 'pending', 'assigned', 'accepted', 'ready', 'preparing', 'starting', 'running'])
const failedStates = new Set(['failed', 'rejected'])

function taskProblem(task: TaskJson): string {
  const exit = task.Status.ContainerStatus?.ExitCode
  return `${task.Status.State}${task.Status.Err ? `: ${task.Status.Err}` : task.Status.Message ? `: ${task.Status.Message}` : ''}${exit ? ` (exit ${exit})` : ''}`
}

const byCreation = (a: TaskJson, b: TaskJson) => a.CreatedAt.localeCompare(b.CreatedAt)

/**
 * One service's state from its spec and tasks. `since`: only tasks created after it count as failures of this deploy
 * (a service that failed `failuresAllowed` times since is failed, not still starting).
 */
export function serviceState(service: ServiceJson, tasks: TaskJson[], since = 0, failuresAllowed = 3): ServiceState {
  const name = service.Spec.Name
  const stack = service.Spec.Labels?.['com.docker.stack.namespace'] ?? ''
  const mode = service.Spec.Mode
  const sorted = [...tasks].sort(byCreation)
  const recentFailures = sorted.filter((t) => failedStates.has(t.Status.State) && Date.parse(t.CreatedAt) >= since)
  const lastFailure = recentFailures.at(-1)

  if (mode.ReplicatedJob || mode.GlobalJob) {
    const iteration = service.JobStatus?.JobIteration?.Index
    const current = sorted.filter((t) => iteration === undefined || t.JobIteration?.Index === iteration)
    const wanted = mode.ReplicatedJob?.TotalCompletions ?? Math.max(1, new Set(current.map((t) => t.Slot ?? t.ID)).size)
    const done = current.filter((t) => t.Status.State === 'complete').length
    const finished = current.filter((t) => !live.has(t.Status.State)).at(-1)
    const stillTrying = current.some((t) => live.has(t.Status.State))
    const lastFailed = current.filter((t) => failedStates.has(t.Status.State)).at(-1)
    const failed = done < wanted && !stillTrying && lastFailed !== undefined
    // A job labelled activity.converge=started (the backup job) counts as deployed once its run is under way.
    const startedIsEnough = service.Spec.Labels?.['activity.converge'] === 'started' && current.some((t) => t.Status.State === 'running')
    return {
      name,
      stack,
      kind: 'job',
      done,
      wanted,
      ready: done >= wanted || startedIsEnough,
      failed,
      problem: lastFailed && done < wanted ? taskProblem(lastFailed) : undefined,
      exitCode: finished?.Status.ContainerStatus?.ExitCode,
      finishedAt: finished?.Status.Timestamp,
      telling: (lastFailed ?? finished)?.ID,
      tasks: sorted,
    }
  }

  const running = sorted.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running').length
  const wanted = mode.Replicated ? (mode.Replicated.Replicas ?? 1) : Math.max(1, sorted.filter((t) => t.DesiredState === 'running').length)
  const update = service.UpdateStatus?.State
  const updating = update === 'updating' || update === 'rollback_started'
  const updateFailed = update === 'paused' || update === 'rollback_paused' || update === 'rollback_completed'
  const failed = updateFailed || (recentFailures.length >= failuresAllowed && running < wanted)
  return {
    name,
    stack,
    kind: mode.Global ? 'global' : 'replicated',
    done: running,
    wanted,
    ready: running >= wanted && !updating && !updateFailed,
    failed,
    problem: updateFailed ? `update ${update}: ${service.UpdateStatus?.Message ?? ''}` : running < wanted && lastFailure ? taskProblem(lastFailure) : undefined,
    telling: sorted.filter((t) => failedStates.has(t.Status.State)).at(-1)?.ID,
    tasks: sorted,
  }
}

/** The current state of the named services (stack_service), from `docker service inspect` and their tasks. */
export async function serviceStates(names: string[], since = 0): Promise<ServiceState[]> {
  if (!names.length) return []
  const services = JSON.parse(await docker(['service', 'inspect', ...names])) as ServiceJson[]
  const ids = (await docker(['service', 'ps', '--no-trunc', '-q', ...names])).split('\n').filter(Boolean)
  const tasks = ids.length ? (JSON.parse(await docker(['inspect', '--type', 'task', ...new Set(ids)])) as TaskJson[]) : []
  return services.map((service) => serviceState(service, tasks.filter((t) => t.ServiceID === service.ID), since))
}

export function describe(state: ServiceState): string {
  if (state.kind === 'job') {
    const exit = state.exitCode === undefined ? '' : `, exit ${state.exitCode}`
    if (state.ready && state.done < state.wanted) return `started (runs on, reported by its health group) ${state.done}/${state.wanted}`
    return `${state.ready ? 'completed' : state.failed ? 'FAILED' : 'running'} ${state.done}/${state.wanted}${exit}`
  }
  return `${state.ready ? 'running' : state.failed ? 'FAILED' : 'starting'} ${state.done}/${state.wanted}`
}

export interface ConvergeOptions {
  timeoutMs: number
  /** Tasks created before this (earlier deploys) do not count as failures. */
  since: number
  progress: (line: string) => void
  pollMs?: number
}

/** Polls until every service is ready or failed, printing each as it gets there, and what is still awaited now and then. */
export async function waitForServices(names: string[], options: ConvergeOptions): Promise<ServiceState[]> {
  const started = Date.now()
  const reported = new Set<string>()
  let lastWaitingLine = Date.now()
  for (;;) {
    const states = await serviceStates(names, options.since)
    const elapsed = `${((Date.now() - started) / 1000).toFixed(1)} s`
    for (const state of states) {
      if (reported.has(state.name) || !(state.ready || state.failed)) continue
      reported.add(state.name)
      options.progress(`${state.name.padEnd(28)} ${describe(state)}${state.failed && state.problem ? `: ${state.problem}` : ''} (${elapsed})`)
    }
    const pending = states.filter((s) => !s.ready && !s.failed)
    if (!pending.length) return states
    if (Date.now() - started > options.timeoutMs) {
      return states.map((s) => (pending.includes(s) ? { ...s, failed: true, problem: `not ready after ${Math.round(options.timeoutMs / 1000)} s${s.problem ? `; last: ${s.problem}` : ''}` } : s))
    }
    if (Date.now() - lastWaitingLine > 15_000) {
      lastWaitingLine = Date.now()
      options.progress(`waiting for ${pending.map((s) => `${s.name} (${describe(s)}${s.problem ? `; ${s.problem}` : ''})`).join(', ')} (${elapsed})`)
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 1000))
  }
}
