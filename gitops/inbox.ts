// How `npm run up` writes to the deploy ledger, which lives on the gitops volume: up leaves its entry in a Swarm config
// (activity_ledger_up_<time>, visible on every manager whether gitops runs or not), and gitops takes each such config
// into the ledger, then removes it, when it starts and before each listing. up needs neither gitops nor its password.
import { docker, dockerMaybe } from '../stacks/deploy/docker.ts'
import { platformLabel } from '../stacks/deploy/swarm.ts'
import type { Ledger, LedgerEntry } from './ledger.ts'

export const inboxLabel = 'activity.ledger'
const inboxPrefix = 'activity_ledger_up_'

export interface LedgerInbox {
  take(ledger: Ledger): Promise<number>
}

/** Leaves an entry of `npm run up` for gitops to take into the ledger. */
export async function leaveUpEntry(entry: Omit<LedgerEntry, 'id'>): Promise<string> {
  const name = `${inboxPrefix}${Date.now()}`
  await docker(['config', 'create', '--label', `${inboxLabel}=up`, '--label', `${platformLabel}=true`, name, '-'], { input: JSON.stringify(entry) })
  return name
}

/** The swarm's inbox: every activity_ledger_up_* config, oldest first, added to the ledger and removed. */
export const swarmInbox: LedgerInbox = {
  async take(ledger) {
    const names = (await docker(['config', 'ls', '--filter', `label=${inboxLabel}`, '--format', '{{.Name}}'])).split('\n').filter((n) => n.startsWith(inboxPrefix))
    names.sort((a, b) => Number(a.slice(inboxPrefix.length)) - Number(b.slice(inboxPrefix.length)))
    for (const name of names) {
      const data = await dockerMaybe(['config', 'inspect', '--format', '{{json .Spec.Data}}', name])
      if (data !== undefined) {
        const entry = JSON.parse(Buffer.from(JSON.parse(data) as string, 'base64').toString('utf8')) as Omit<LedgerEntry, 'id'>
        ledger.add({ ...entry, trigger: 'up' })
      }
      await dockerMaybe(['config', 'rm', name])
    }
    return names.length
  },
}
