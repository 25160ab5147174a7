// Removing a source or target from activity.yml removes its metrics from a real Pushgateway.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseConfig } from '../../collectors/runtime/activity-yml.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { pushGroup } from '../../collectors/runtime/push.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { pruneGroups } from '../../gitops/prune.ts'
import { parseExposition } from '../support/collect.ts'
import { gatewayText, startPushgateway, type Pushgateway } from '../support/prometheus.ts'

const test = suite('pruning metrics groups')
const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
const log = createLogger({ write: () => {} })
let gateway: Pushgateway

test.before(async () => {
  gateway = await startPushgateway()
})
test.after(() => gateway?.stop())

const push = (grouping: Record<string, string>, value: number) => pushGroup(gateway.url, grouping, `# TYPE x gauge\nx ${value}\n`, { log })
const groups = async () =>
  [...new Set(parseExposition(await gatewayText(gateway.url)).filter((s) => s.name === 'x').map((s) => [s.labels.job, s.labels.target, s.labels.group ?? ''].join('|')))].sort()

test('groups of targets and sources no longer in activity.yml are deleted; configured ones and other jobs stay', async () => {
  await push({ job: 'github', target: 'prometheus' }, 1)
  await push({ job: 'github', target: 'prometheus', group: 'health' }, 1)
  await push({ job: 'github', target: 'grafana/grafana' }, 2)
  await push({ job: 'github', target: 'grafana/grafana', group: 'health' }, 2)
  await push({ job: 'dockerhub', target: 'prom' }, 3)
  await push({ job: 'backup', target: 'nightly' }, 4)
  const config = parseConfig('sources:\n  github:\n    targets: [prometheus]\n', 'activity.yml', collectors)

  const removed = await pruneGroups(gateway.url, config, [...collectors.keys()], log)

  assert.equal(removed.map((g) => `${g.job}|${g.target}|${g.group ?? ''}`).sort(), ['dockerhub|prom|', 'github|grafana/grafana|', 'github|grafana/grafana|health'])
  assert.equal(await groups(), ['backup|nightly|', 'github|prometheus|', 'github|prometheus|health'])
})

test('with nothing to remove, nothing is deleted', async () => {
  const config = parseConfig('sources:\n  github:\n    targets: [prometheus]\n', 'activity.yml', collectors)
  assert.equal(await pruneGroups(gateway.url, config, [...collectors.keys()], log), [])
  assert.equal(await groups(), ['backup|nightly|', 'github|prometheus|', 'github|prometheus|health'])
})

test.run()
