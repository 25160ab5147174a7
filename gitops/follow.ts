// Following a service update to its end, as Swarm reports it: `docker service inspect`'s UpdateStatus until it is
// completed, rollback_completed or paused, and every running task at the service's current spec. A service whose
// spec did not change (no update) is done once its tasks run.
import { createHash } from 'node:crypto'
import { docker, dockerMaybe } from '../stacks/deploy/docker.ts'
import { serviceState, type TaskJson } from '../stacks/deploy/converge.ts'
import type { ServiceRecord } from './ledger.ts'

/** The part of `docker service inspect` this reads. */
export interface InspectedService {
  ID: string
  Spec: {
    Name: string
    Labels?: Record<string, string>
    TaskTemplate: { ContainerSpec?: { Image?: string } }
    Mode: { Replicated?: { Replicas?: number }; Global?: object; ReplicatedJob?: object; GlobalJob?: object }
  }
  UpdateStatus?: { State?: string; StartedAt?: string; CompletedAt?: string; Message?: string }
}

export type UpdateVerdict =
  | { done: false; why: string }
  | { done: true; ok: true }
  | { done: true; ok: false; rolledBack: boolean; problem: string }

/** Swarm's clock and this one may differ by a little: an update started this long before `since` still counts as this one. */
const skewMs = 2000

/** The image without its digest: what the stack file named. */
const shortImage = (image = '') => image.replace(/@sha256:[0-9a-f]+$/, '')

/**
 * Whether every value the task's spec has is the template's: `docker service inspect` fills in defaults the task's spec
 * leaves out (StopGracePeriod, RestartPolicy, Runtime), so equality would never hold; a changed value shows.
 */
export function covers(task: unknown, template: unknown): boolean {
  if (Array.isArray(task)) return Array.isArray(template) && task.length === template.length && task.every((t, i) => covers(t, template[i]))
  if (task !== null && typeof task === 'object') {
    if (template === null || typeof template !== 'object' || Array.isArray(template)) return false
    return Object.entries(task).every(([key, value]) => covers(value, (template as Record<string, unknown>)[key]))
  }
  return task === template
}

/** A running task is at the service's current spec when nothing its spec says differs from the service's task template. */
function atCurrentSpec(service: InspectedService, task: TaskJson & { Spec?: unknown }): boolean {
  return task.Spec === undefined || covers(task.Spec, service.Spec.TaskTemplate)
}

/**
 * Where one service's update stands. `since`: when this deployment began; an UpdateStatus older than that is an
 * earlier deployment's. Failures of tasks created since then count (3 of them and nothing running: failed).
 */
export function updateVerdict(service: InspectedService, tasks: (TaskJson & { Spec?: unknown })[], since: number): UpdateVerdict {
  const status = service.UpdateStatus
  const state = status?.State
  const message = status?.Message ? `: ${status.Message}` : ''
  const fresh = status?.StartedAt !== undefined && Date.parse(status.StartedAt) >= since - skewMs
  if (state === 'updating' || state === 'rollback_started') return { done: false, why: `update ${state}` }
  if (fresh && state === 'rollback_completed') return { done: true, ok: false, rolledBack: true, problem: `rolled back by Swarm${message}` }
  if (fresh && (state === 'paused' || state === 'rollback_paused')) return { done: true, ok: false, rolledBack: false, problem: `update ${state} by Swarm${message}` }
  // Its tasks alone: an UpdateStatus not of this deployment says nothing about it.
  const base = serviceState({ ...service, UpdateStatus: undefined } as Parameters<typeof serviceState>[0], tasks, since)
  if (base.failed) return { done: true, ok: false, rolledBack: false, problem: base.problem ?? 'its tasks fail' }
  const running = tasks.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running')
  const behind = running.filter((t) => !atCurrentSpec(service, t)).length
  if (!base.ready) return { done: false, why: `${base.done}/${base.wanted} running${base.problem ? `; ${base.problem}` : ''}` }
  if (behind) return { done: false, why: `${behind} task${behind === 1 ? '' : 's'} still at the previous spec` }
  return { done: true, ok: true }
}

/** The services and their tasks, as the engine reports them now. */
export async function inspectServices(names: string[], attempts = 3): Promise<{ services: InspectedService[]; tasks: (TaskJson & { Spec?: unknown })[] }> {
  if (!names.length) return { services: [], tasks: [] }
  const services = JSON.parse(await docker(['service', 'inspect', ...names])) as InspectedService[]
  const ids = (await docker(['service', 'ps', '--no-trunc', '-q', ...names])).split('\n').filter(Boolean)
  if (!ids.length) return { services, tasks: [] }
  // Swarm prunes old tasks while it updates: one listed a moment ago may be gone; the listing is asked again.
  const tasks = await docker(['inspect', '--type', 'task', ...new Set(ids)]).catch((error: Error) => {
    if (attempts > 1 && /not found/i.test(error.message)) return undefined
    throw error
  })
  if (tasks === undefined) return inspectServices(names, attempts - 1)
  return { services, tasks: JSON.parse(tasks) as (TaskJson & { Spec?: unknown })[] }
}

/** Each service as the ledger records it: its image and a fingerprint of its whole spec (equal specs, equal fingerprints). */
export async function describeServices(names: string[]): Promise<ServiceRecord[]> {
  if (!names.length) return []
  const services = JSON.parse(await docker(['service', 'inspect', ...names])) as InspectedService[]
  return services
    .map((s) => ({ name: s.Spec.Name, image: shortImage(s.Spec.TaskTemplate.ContainerSpec?.Image), fingerprint: createHash('sha256').update(JSON.stringify(s.Spec)).digest('hex').slice(0, 16) }))
    .sort((a, b) => a.name.localeCompare(b.name))
}

/**
 * Why the newest task this deployment started ended: its last health check when Docker still has its container (on
 * this node), else the swarm's error. Swarm's own rollback message names the task only.
 */
export async function endedTaskDetail(tasks: TaskJson[], since: number): Promise<string | undefined> {
  const ended = tasks
    .filter((t) => Date.parse(t.CreatedAt) >= since - skewMs && t.DesiredState !== 'running' && ['complete', 'failed', 'shutdown', 'rejected'].includes(t.Status.State))
    .sort((a, b) => a.CreatedAt.localeCompare(b.CreatedAt))
    .at(-1)
  if (!ended) return undefined
  const id = ended.ID.slice(0, 12)
  const container = ended.Status.ContainerStatus?.ContainerID
  const health = container ? await dockerMaybe(['inspect', '--format', '{{json .State.Health}}', container]) : undefined
  const parsed = health ? (JSON.parse(health) as { Status?: string; Log?: { ExitCode: number; Output: string }[] } | null) : null
  const last = parsed?.Log?.at(-1)
  if (parsed?.Status === 'unhealthy' && last) return `task ${id} unhealthy: health check exit ${last.ExitCode}${last.Output.trim() ? `: ${last.Output.trim().split('\n').at(-1)}` : ''}`
  return ended.Status.Err ? `task ${id}: ${ended.Status.Err}` : undefined
}

export interface FollowOptions {
  since: number
  timeoutMs: number
  pollMs?: number
  report: (line: string) => void
  signal?: AbortSignal
}

export interface Followed {
  name: string
  verdict: UpdateVerdict
}

/** Polls until every service's update ended (or the timeout: then the ones still going count as failed). */
export async function followUpdates(names: string[], options: FollowOptions): Promise<Followed[]> {
  const started = Date.now()
  const reported = new Set<string>()
  // Swarm says which task failed while it rolls back ("update rolled back due to failure ... of task X"), not after.
  const rollbackMessages = new Map<string, string>()
  const ended = new Map<string, UpdateVerdict>()
  let lastWaiting = Date.now()
  for (;;) {
    options.signal?.throwIfAborted()
    const { services, tasks } = await inspectServices(names)
    const verdicts: Followed[] = []
    for (const service of services) {
      const own = tasks.filter((t) => t.ServiceID === service.ID)
      if (service.UpdateStatus?.State === 'rollback_started' && service.UpdateStatus.Message) rollbackMessages.set(service.Spec.Name, service.UpdateStatus.Message)
      let verdict = ended.get(service.Spec.Name) ?? updateVerdict(service, own, options.since)
      if (verdict.done && !verdict.ok && !ended.has(service.Spec.Name)) {
        const detail = [verdict.rolledBack ? rollbackMessages.get(service.Spec.Name) : undefined, await endedTaskDetail(own, options.since)].filter(Boolean)
        if (detail.length) verdict = { ...verdict, problem: `${verdict.problem} (${detail.join('; ')})` }
      }
      // A failed update is over: what it said first is kept (a rollback's later polls no longer name the task).
      if (verdict.done && !verdict.ok) ended.set(service.Spec.Name, verdict)
      verdicts.push({ name: service.Spec.Name, verdict })
    }
    const elapsed = `${((Date.now() - started) / 1000).toFixed(1)} s`
    for (const { name, verdict } of verdicts) {
      if (!verdict.done || reported.has(name)) continue
      reported.add(name)
      options.report(`${name}: ${verdict.ok ? 'update completed' : verdict.problem} (${elapsed})`)
    }
    const pending = verdicts.filter((v) => !v.verdict.done)
    if (!pending.length) return verdicts
    if (Date.now() - started > options.timeoutMs) {
      const seconds = Math.round(options.timeoutMs / 1000)
      return verdicts.map((v) => (v.verdict.done ? v : { name: v.name, verdict: { done: true, ok: false, rolledBack: false, problem: `not done after ${seconds} s (${v.verdict.why})` } }))
    }
    if (Date.now() - lastWaiting > 15_000) {
      lastWaiting = Date.now()
      options.report(`waiting for ${pending.map((p) => `${p.name} (${(p.verdict as { why: string }).why})`).join(', ')} (${elapsed})`)
    }
    await new Promise<void>((resolve) => {
      const stop = () => (clearTimeout(timer), resolve())
      const timer = setTimeout(() => (options.signal?.removeEventListener('abort', stop), resolve()), options.pollMs ?? 1000)
      options.signal?.addEventListener('abort', stop, { once: true })
    })
  }
}
