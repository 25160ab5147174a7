// activity.yml's alerts: section: receivers parsed with their secrets, bad input refused in one line naming file, line
// and field; the monitoring stack deploys the alertmanager.yml rendered from it, with the secrets mounted.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { parseConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { renderStack } from '../../stacks/stacks.ts'
import { configProblem } from '../support/config-errors.ts'
import { tempDir } from '../support/servers.ts'

const test = suite('alerts in activity.yml')
const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
const root = new URL('../../', import.meta.url).pathname
const sources = 'sources:\n  dockerhub:\n    targets: [prom]\n'

function withAlerts(alerts: string) {
  return parseConfig(`${sources}alerts:\n${alerts}`, 'activity.yml', collectors)
}
function problem(alerts: string): string {
  return configProblem(() => withAlerts(alerts))
}

const four = `  receivers:
    - name: oncall
      kind: webhook
      secret: alerts_webhook_url
      severities: [critical]
    - name: team
      kind: slack
      secret: alerts_slack_url
      channel: "#activity"
      severities: [critical, warning]
    - name: community
      kind: discord
      secret: alerts_discord_url
      severities: [info]
    - name: ops
      kind: email
      to: ops@example.org
      from: alerts@example.org
      smarthost: smtp.example.org:587
      username: alerts
      secret: alerts_smtp_password
`

test('without an alerts section there are no receivers', () => {
  assert.equal(parseConfig(sources, 'activity.yml', collectors).alerts, { receivers: [] })
})

test('the four kinds of receiver are read with their secrets and severities (all three when not said)', () => {
  const { receivers } = withAlerts(four).alerts
  assert.equal(
    receivers.map((r) => [r.name, r.kind, r.secret, r.severities]),
    [
      ['oncall', 'webhook', 'alerts_webhook_url', ['critical']],
      ['team', 'slack', 'alerts_slack_url', ['critical', 'warning']],
      ['community', 'discord', 'alerts_discord_url', ['info']],
      ['ops', 'email', 'alerts_smtp_password', ['critical', 'warning', 'info']],
    ],
  )
})

test('an unknown receiver kind is refused naming file, line and field', () => {
  assert.is(problem('  receivers:\n    - name: pager\n      kind: pagerduty\n'), "activity.yml:7: alerts.receivers[0].kind: unknown receiver kind 'pagerduty'; use one of webhook, slack, discord, email")
})

test('a Slack receiver without its secret is refused with an example', () => {
  assert.is(
    problem('  receivers:\n    - name: team\n      kind: slack\n      channel: "#a"\n'),
    'activity.yml:6: alerts.receivers[0].secret: is missing; e.g. {name: team, kind: slack, secret: alerts_slack_url, channel: "#alerts"}',
  )
})

test('a bad webhook URL is refused at its line', () => {
  assert.is(problem('  receivers:\n    - name: hook\n      kind: webhook\n      url: ftp://example.org/hook\n'), 'activity.yml:8: alerts.receivers[0].url: must be an http:// or https:// URL')
  assert.is(problem('  receivers:\n    - name: hook\n      kind: webhook\n      url: not a url\n'), 'activity.yml:8: alerts.receivers[0].url: must be an http:// or https:// URL')
})

test('a webhook needs a url or a secret, not both', () => {
  assert.match(problem('  receivers:\n    - name: hook\n      kind: webhook\n'), /^activity\.yml:6: alerts\.receivers\[0\]: has neither url nor secret; /)
  assert.match(problem('  receivers:\n    - name: hook\n      kind: webhook\n      url: http://a.example/\n      secret: s\n'), /^activity\.yml:6: alerts\.receivers\[0\]: has both url and secret; /)
})

test('a secret given as a value (a URL) is refused: the file is committed', () => {
  assert.is(
    problem('  receivers:\n    - name: team\n      kind: slack\n      secret: https://hooks.slack.com/services/T0/B0/XXXX\n'),
    'activity.yml:8: alerts.receivers[0].secret: must be the name of a Swarm secret (letters, digits, - _ and ., at most 64), not its value',
  )
})

test('a field of another kind, an unknown severity, a duplicate name and half an SMTP login are refused', () => {
  assert.is(problem('  receivers:\n    - name: c\n      kind: discord\n      secret: s\n      channel: "#x"\n'), 'activity.yml:9: alerts.receivers[0].channel: unknown field; a discord receiver has allowed: name, kind, severities, sendResolved, secret')
  assert.is(problem('  receivers:\n    - name: c\n      kind: discord\n      secret: s\n      severities: [page]\n'), 'activity.yml:9: alerts.receivers[0].severities[0]: must be one of critical, warning, info')
  assert.is(
    problem('  receivers:\n    - {name: c, kind: discord, secret: s}\n    - {name: c, kind: slack, secret: t}\n'),
    "activity.yml:7: alerts.receivers[1].name: duplicate receiver 'c' (also receivers[0]); give each receiver its own name",
  )
  assert.match(problem('  receivers:\n    - {name: m, kind: email, to: a@b.org, from: c@d.org, smarthost: "smtp.d.org:587", username: u}\n'), /^activity\.yml:6: alerts\.receivers\[0\]\.secret: is missing; SMTP authentication needs both/)
  assert.is(problem('  receiver: []\n'), 'activity.yml:5: alerts.receiver: unknown field; allowed: receivers')
})

test('the monitoring stack deploys the rendered alertmanager.yml, named by its content, with the receivers\' secrets mounted', () => {
  const dir = tempDir('alerts-render')
  try {
    const config = withAlerts(four)
    const plan = renderStack('monitoring', { root, config, outDir: dir.path })
    const overlay = parse(readFileSync(plan.files[1]!, 'utf8'))
    const rendered = parse(readFileSync(join(dir.path, 'alertmanager.yml'), 'utf8'))
    assert.is(plan.files[0], join(root, 'stacks/monitoring.yml'))
    assert.is(overlay.configs.alertmanager.name, `monitoring_alertmanager_${plan.env.CONFIG_MONITORING_ALERTMANAGER}`)
    assert.equal(overlay.services.alertmanager.secrets.map((s: { source: string }) => s.source), ['alerts_webhook_url', 'alerts_slack_url', 'alerts_discord_url', 'alerts_smtp_password'])
    assert.equal(Object.values(overlay.secrets).map((s) => (s as { external: boolean }).external), [true, true, true, true])
    // The committed file's grouping and inhibitions stay; each receiver gets a severity route.
    const base = parse(readFileSync(join(root, 'stacks/monitoring/alertmanager.yml'), 'utf8'))
    assert.equal(rendered.inhibit_rules, base.inhibit_rules)
    assert.is(rendered.route.receiver, 'ui-only')
    assert.equal(rendered.route.routes, [
      { receiver: 'oncall', matchers: ['severity="critical"'], continue: true },
      { receiver: 'team', matchers: ['severity=~"critical|warning"'], continue: true },
      { receiver: 'community', matchers: ['severity="info"'], continue: true },
      { receiver: 'ops', matchers: ['severity=~"critical|warning|info"'], continue: true },
    ])
    assert.equal(rendered.receivers[1].webhook_configs, [{ send_resolved: true, url_file: '/run/secrets/alerts_webhook_url' }])
    assert.equal(rendered.receivers[2].slack_configs, [{ send_resolved: true, api_url_file: '/run/secrets/alerts_slack_url', channel: '#activity' }])
    assert.equal(rendered.receivers[3].discord_configs, [{ send_resolved: true, webhook_url_file: '/run/secrets/alerts_discord_url' }])
    assert.is(rendered.receivers[4].email_configs[0].auth_password_file, '/run/secrets/alerts_smtp_password')
    // No credential is in the rendered file: only where to read it.
    assert.not.match(readFileSync(join(dir.path, 'alertmanager.yml'), 'utf8'), /hooks\.|password:/)
  } finally {
    dir.remove()
  }
})

test('without receivers the committed alertmanager.yml is deployed unchanged (same name, nothing restarts)', () => {
  const dir = tempDir('alerts-render')
  try {
    const plan = renderStack('monitoring', { root, config: parseConfig(sources, 'activity.yml', collectors), outDir: dir.path })
    assert.is(readFileSync(join(dir.path, 'alertmanager.yml'), 'utf8'), readFileSync(join(root, 'stacks/monitoring/alertmanager.yml'), 'utf8'))
    assert.is(plan.env.CONFIG_MONITORING_ALERTMANAGER, renderStack('monitoring', { root }).env.CONFIG_MONITORING_ALERTMANAGER)
  } finally {
    dir.remove()
  }
})

test.run()
