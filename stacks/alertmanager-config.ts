// alertmanager.yml rendered from activity.yml's alerts: receivers: the committed stacks/monitoring/alertmanager.yml
// (grouping, timings, inhibitions) plus one receiver and one severity route per entry. Credentials are read by
// Alertmanager from the Swarm secrets mounted at /run/secrets/<name> (its *_file fields), never written here.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import type { AlertsConfig, Receiver } from '../collectors/runtime/activity-yml-alerts.ts'
import { contentHash } from './collectors-stack.ts'

/** Where Swarm mounts a secret in the Alertmanager container. */
export function secretPath(secret: string): string {
  return `/run/secrets/${secret}`
}

/** The Swarm secrets the receivers read, in file order, each once. */
export function alertSecrets(alerts: AlertsConfig): string[] {
  return [...new Set(alerts.receivers.flatMap((receiver) => (receiver.secret ? [receiver.secret] : [])))]
}

// Field names as the pinned Alertmanager (v0.34.0, stacks/monitoring.yml) documents them, in
// https://github.com/prometheus/alertmanager/blob/v0.34.0/docs/configuration.md:
//   webhook_config url / url_file      (#webhook_config; url_file since 0.26, its crash on an error answer fixed in 0.28)
//   slack_config api_url_file          (#slack_config)
//   discord_config webhook_url_file    (#discord_config; since 0.27, accepted without webhook_url from 0.28)
//   email_config auth_password_file    (#email_config)
function integration(receiver: Receiver): Record<string, unknown[]> {
  const resolved = { send_resolved: receiver.sendResolved }
  switch (receiver.kind) {
    case 'webhook':
      return { webhook_configs: [{ ...resolved, ...(receiver.secret ? { url_file: secretPath(receiver.secret) } : { url: receiver.url }) }] }
    case 'slack':
      return { slack_configs: [{ ...resolved, api_url_file: secretPath(receiver.secret), ...(receiver.channel ? { channel: receiver.channel } : {}) }] }
    case 'discord':
      return { discord_configs: [{ ...resolved, webhook_url_file: secretPath(receiver.secret) }] }
    case 'email':
      return {
        email_configs: [
          {
            ...resolved,
            to: receiver.to,
            from: receiver.from,
            smarthost: receiver.smarthost,
            require_tls: receiver.requireTls,
            ...(receiver.username && receiver.secret ? { auth_username: receiver.username, auth_password_file: secretPath(receiver.secret) } : {}),
          },
        ],
      }
  }
}

/** The severity route of a receiver: every alert of those severities reaches it, and the next receivers too. */
function routeTo(receiver: Receiver): Record<string, unknown> {
  const severity = receiver.severities.length === 1 ? `severity="${receiver.severities[0]}"` : `severity=~"${receiver.severities.join('|')}"`
  return { receiver: receiver.name, matchers: [severity], continue: true }
}

/**
 * alertmanager.yml for these receivers, from the committed base file's text. With no receivers the base is returned
 * as it is (its content hash, so the running config, does not change).
 */
export function renderAlertmanager(baseText: string, alerts: AlertsConfig): string {
  if (!alerts.receivers.length) return baseText
  const base = (parse(baseText) ?? {}) as { route?: Record<string, unknown>; receivers?: unknown[] }
  const route = { ...(base.route ?? {}), routes: [...((base.route?.routes as unknown[] | undefined) ?? []), ...alerts.receivers.map(routeTo)] }
  const receivers = [...(base.receivers ?? []), ...alerts.receivers.map((receiver) => ({ name: receiver.name, ...integration(receiver) }))]
  const header = '# Rendered from activity.yml (alerts: receivers:) and stacks/monitoring/alertmanager.yml by the platform; do not edit.\n'
  return header + stringify({ ...base, route, receivers }, { lineWidth: 0 })
}

export function renderAlertmanagerFile(baseFile: string, alerts: AlertsConfig): string {
  return renderAlertmanager(readFileSync(baseFile, 'utf8'), alerts)
}

export interface AlertmanagerOverlay {
  /** The Compose overlay (merged after stacks/monitoring.yml): the rendered config's file and the receivers' secrets. */
  file: string
  /** The rendered alertmanager.yml. */
  config: string
  /** Content hash of the rendered file: the value of CONFIG_MONITORING_ALERTMANAGER. */
  hash: string
}

/**
 * Writes the rendered alertmanager.yml and an overlay that makes the monitoring stack's `alertmanager` config that
 * file, and mounts the receivers' secrets (external: a person creates them; up and gitops refuse to deploy without).
 */
export function writeAlertmanagerOverlay(baseFile: string, alerts: AlertsConfig, dir: string): AlertmanagerOverlay {
  const config = join(dir, 'alertmanager.yml')
  writeFileSync(config, renderAlertmanagerFile(baseFile, alerts))
  const hash = contentHash(config)
  const secrets = alertSecrets(alerts)
  const overlay = {
    version: '3.9',
    services: { alertmanager: secrets.length ? { secrets: secrets.map((source) => ({ source, target: source })) } : {} },
    configs: { alertmanager: { name: `monitoring_alertmanager_${hash}`, file: config } },
    ...(secrets.length ? { secrets: Object.fromEntries(secrets.map((name) => [name, { name, external: true }])) } : {}),
  }
  const file = join(dir, 'monitoring.alerts.yml')
  writeFileSync(file, stringify(overlay))
  return { file, config, hash }
}
