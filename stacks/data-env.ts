// What activity.yml's metrics:, logs: and backup: sections change in the deploy: variables the stack files read and
// the profiles (overlays) to merge. The deploy path (scripts/up, gitops) adds these to its own.
import type { ActivityConfig } from '../collectors/runtime/activity-yml.ts'

/** Variables interpolated by stacks/metrics.yml and stacks/metrics.longterm.yml. */
export function dataStackEnvironment(config: ActivityConfig): Record<string, string> {
  return {
    METRICS_RETENTION: config.metrics.retention,
    // Prometheus reads 0 as "no size limit".
    METRICS_RETENTION_SIZE: config.metrics.retentionSize ?? '0',
    LONGTERM_RETENTION: config.metrics.longTerm.retention,
  }
}

/** Profiles activity.yml turns on: longterm (VictoriaMetrics, metrics and admin stacks), nodes3 (logs stack). */
export function dataProfiles(config: ActivityConfig): string[] {
  return [...(config.metrics.longTerm.enabled ? ['longterm'] : []), ...(config.logs.nodes === 3 ? ['nodes3'] : [])]
}
