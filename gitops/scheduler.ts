// Re-runs each collector job (a replicated-job service labelled activity.schedule) on its cron; never two runs at once, a missed run once.
import { Cron } from 'croner'
import type { Logger } from '../collectors/runtime/log.ts'
import { cronProblem } from '../collectors/runtime/activity-yml.ts'

export const scheduleLabel = 'activity.schedule'

export interface ScheduledJob {
  service: string
  schedule: string
}

/** The Swarm side of scheduling; the real one is docker, tests use a recording one. */
export interface JobRunner {
  jobs(): Promise<ScheduledJob[]>
  /** True while a task of the job's latest run has not finished. */
  isRunning(service: string): Promise<boolean>
  /** Starts a new run of the job (a forced update of a replicated-job service). */
  start(service: string): Promise<void>
}

export interface SchedulerStore {
  /** When each job was last started by us: a restart needs it to catch up once. */
  lastRuns(): Record<string, string>
  save(lastRuns: Record<string, string>): void
}

export type RunResult = 'started' | 'skipped-running' | 'failed'

/** Whether a run was scheduled after `lastRun` and at or before `now` (UTC). */
export function missedRun(schedule: string, lastRun: Date, now: Date): boolean {
  const next = new Cron(schedule, { paused: true, timezone: 'UTC' }).nextRun(lastRun)
  return next !== null && next.getTime() <= now.getTime()
}

export class Scheduler {
  private readonly timers = new Map<string, { schedule: string; cron: Cron }>()
  private readonly lastRuns: Record<string, string>

  constructor(
    private readonly runner: JobRunner,
    private readonly store: SchedulerStore,
    private readonly log: Logger,
    private readonly onRun: (service: string, result: RunResult) => void = () => {},
    private readonly now: () => Date = () => new Date(),
  ) {
    this.lastRuns = { ...store.lastRuns() }
  }

  /**
   * Reads the labelled services again: new jobs get a timer, removed ones lose theirs, changed schedules are replaced.
   * A job whose scheduled time passed while nothing ran it (gitops was down) runs once now, not once per missed time.
   */
  async sync(): Promise<void> {
    const jobs = await this.runner.jobs()
    const seen = new Set<string>()
    for (const job of jobs) {
      seen.add(job.service)
      const problem = cronProblem(job.schedule)
      if (problem) {
        this.log.error('job has an invalid schedule; not scheduled', { service: job.service, schedule: job.schedule, problem })
        continue
      }
      const existing = this.timers.get(job.service)
      if (existing?.schedule === job.schedule) continue
      existing?.cron.stop()
      const cron = new Cron(job.schedule, { timezone: 'UTC', protect: true }, () => void this.runOnce(job.service))
      this.timers.set(job.service, { schedule: job.schedule, cron })
      this.log.info('job scheduled', { service: job.service, schedule: job.schedule, next: cron.nextRun()?.toISOString() })
      const last = this.lastRuns[job.service]
      if (last && missedRun(job.schedule, new Date(last), this.now())) {
        this.log.info('job missed its schedule while gitops was away; running it once', { service: job.service, lastRun: last })
        await this.runOnce(job.service)
      } else if (!last) {
        // First sight of a job: its deployment just ran it, so the schedule starts from now.
        this.record(job.service)
      }
    }
    for (const [service, timer] of this.timers) {
      if (seen.has(service)) continue
      timer.cron.stop()
      this.timers.delete(service)
      delete this.lastRuns[service]
      this.store.save(this.lastRuns)
      this.log.info('job unscheduled (service removed)', { service })
    }
  }

  /** Starts a run unless one is still going. */
  async runOnce(service: string): Promise<RunResult> {
    let result: RunResult
    try {
      if (await this.runner.isRunning(service)) {
        this.log.warn('previous run still going; this run is skipped', { service })
        result = 'skipped-running'
      } else {
        await this.runner.start(service)
        this.record(service)
        this.log.info('job started', { service })
        result = 'started'
      }
    } catch (error) {
      this.log.error('job could not be started', { service, reason: (error as Error).message })
      result = 'failed'
    }
    this.onRun(service, result)
    return result
  }

  scheduled(): ScheduledJob[] {
    return [...this.timers].map(([service, { schedule }]) => ({ service, schedule }))
  }

  stop(): void {
    for (const { cron } of this.timers.values()) cron.stop()
    this.timers.clear()
  }

  private record(service: string): void {
    this.lastRuns[service] = this.now().toISOString()
    this.store.save(this.lastRuns)
  }
}
