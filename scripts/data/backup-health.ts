// The backup job's health, pushed like a collector's (job="backup", target="stores"), so that the collectors' alert
// rules (ReplicatedJobFailing, CollectorNotSucceeding) and the Collectors dashboard cover it too.
import { oneLine } from '../../collectors/runtime/errors.ts'
import type { Logger } from '../../collectors/runtime/log.ts'
import { createMetricSet } from '../../collectors/runtime/metrics.ts'
import { pushGroup } from '../../collectors/runtime/push.ts'
import { healthSpecs, scheduleIntervalSeconds, successSpecs } from '../../collectors/runtime/run.ts'

export const backupGrouping = { job: 'backup', target: 'stores' } as const

export interface BackupRun {
  started: number
  finished: number
  ok: boolean
}

/**
 * Pushes the run's health group (every run) and, after a success, its last-success group. A failed push is logged,
 * never fatal: the backup itself is what counts, and a missing report trips the not-running alert.
 */
export async function reportBackup(pushgateway: string, schedule: string, run: BackupRun, log: Logger): Promise<void> {
  const health = createMetricSet({ activity_collector_last_run_timestamp_seconds: healthSpecs.activity_collector_last_run_timestamp_seconds, activity_collector_last_run_success: healthSpecs.activity_collector_last_run_success, activity_collector_duration_seconds: healthSpecs.activity_collector_duration_seconds, activity_collector_schedule_interval_seconds: healthSpecs.activity_collector_schedule_interval_seconds })
  health.gauge('activity_collector_last_run_timestamp_seconds', run.finished / 1000, {})
  health.gauge('activity_collector_last_run_success', run.ok ? 1 : 0, {})
  health.gauge('activity_collector_duration_seconds', (run.finished - run.started) / 1000, {})
  health.gauge('activity_collector_schedule_interval_seconds', scheduleIntervalSeconds(schedule, new Date(run.finished)), {})
  try {
    await pushGroup(pushgateway, { ...backupGrouping, group: 'health' }, await health.exposition(), { log })
    if (run.ok) {
      const success = createMetricSet(successSpecs)
      success.gauge('activity_collector_last_success_timestamp_seconds', run.finished / 1000, {})
      await pushGroup(pushgateway, backupGrouping, await success.exposition(), { log })
    }
  } catch (error) {
    log.error('backup health push failed', { reason: oneLine(error) })
  }
}
