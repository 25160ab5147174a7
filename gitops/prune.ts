// Removes the Pushgateway groups of sources and targets that activity.yml no longer names: their metrics go with their service.
import got from 'got'
import type { ActivityConfig } from '../collectors/runtime/activity-yml.ts'
import type { Logger } from '../collectors/runtime/log.ts'
import { deleteGroup, type Grouping } from '../collectors/runtime/push.ts'

interface GatewayGroup {
  labels: Record<string, string>
}

/**
 * Deletes every group whose job is a collector of this build but whose source or target is not configured.
 * Groups of other jobs (a backup job, anything pushed by hand) are left alone. Returns the groups deleted.
 */
export async function pruneGroups(gateway: string, config: ActivityConfig, collectors: readonly string[], log: Logger): Promise<Grouping[]> {
  const body = await got(`${gateway.replace(/\/+$/, '')}/api/v1/metrics`, { timeout: { request: 15_000 }, retry: { limit: 2 } }).json<{ data: GatewayGroup[] }>()
  const configured = new Set(config.sources.flatMap((source) => source.targets.map((target) => `${source.name}\0${target.id}`)))
  const removed: Grouping[] = []
  for (const { labels } of body.data) {
    if (!labels.job || !collectors.includes(labels.job) || labels.target === undefined) continue
    if (configured.has(`${labels.job}\0${labels.target}`)) continue
    await deleteGroup(gateway, labels, { log })
    log.info('removed the metrics group of a target no longer configured', { ...labels })
    removed.push(labels)
  }
  return removed
}
