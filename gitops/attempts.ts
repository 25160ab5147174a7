// Deployment attempts as ledger entries: begun when the deployer takes a commit, given its stacks once they are known,
// ended with the result and the services as the swarm runs them. A ledger that cannot be written never stops a
// deployment: the failure is logged.
import type { Logger } from '../collectors/runtime/log.ts'
import type { Stack } from './inputs.ts'
import type { Ledger, LedgerEntry, LedgerResult, ServiceRecord, Trigger } from './ledger.ts'

/** What the deployer was asked (a commit, by a trigger; a rollback to an entry; the resumption of an entry). */
export interface AttemptRequest {
  commit: string
  trigger: Trigger
  rollback?: { entry: LedgerEntry }
  resume?: LedgerEntry
}

/** How an attempt ended, as the deployer says it. */
export interface AttemptOutcome {
  outcome: string
  rolledBack?: boolean
  problems: string[]
}

/** What the ledger says of a finished attempt. */
export function ledgerResult(result: Pick<AttemptOutcome, 'outcome' | 'rolledBack'>): LedgerResult {
  if (result.outcome === 'deployed' || result.outcome === 'unchanged') return 'succeeded'
  if (result.outcome === 'invalid') return 'refused by validation'
  return result.rolledBack ? 'rolled back by Swarm' : 'failed'
}

/** Services of `wanted` that the swarm does not run as recorded: a rollback that did not deploy exactly what the entry did. */
export function differences(wanted: ServiceRecord[], running: ServiceRecord[]): string[] {
  const now = new Map(running.map((s) => [s.name, s]))
  return wanted.flatMap((w) => {
    const r = now.get(w.name)
    if (!r) return [`${w.name} is not running`]
    if (r.image !== w.image) return [`${w.name} runs ${r.image}, not ${w.image}`]
    return r.fingerprint === w.fingerprint ? [] : [`${w.name}'s spec differs (${r.fingerprint}, not ${w.fingerprint})`]
  })
}

export class AttemptRecorder {
  constructor(
    readonly ledger: Ledger,
    private readonly describe: ((stacks: Stack[]) => Promise<ServiceRecord[]>) | undefined,
    private readonly log: Logger,
  ) {}

  private safely<T>(what: string, write: () => T): T | undefined {
    try {
      return write()
    } catch (error) {
      this.log.error('the deploy ledger cannot be written', { file: this.ledger.file, what, reason: (error as Error).message })
      return undefined
    }
  }

  /** A new entry (result `running`), or the unfinished one a resumed attempt finishes. */
  begin(request: AttemptRequest, now: number): LedgerEntry | undefined {
    if (request.resume) return this.ledger.get(request.resume.id) ?? request.resume
    const { commit, trigger, rollback } = request
    return this.safely('begin', () =>
      this.ledger.add({ commit, trigger, stacks: [], services: [], startedAt: new Date(now).toISOString(), result: 'running', ...(rollback ? { rollbackOf: rollback.entry.id } : {}) }),
    )
  }

  stacks(entry: LedgerEntry, stacks: Stack[]): void {
    this.safely('stacks', () => this.ledger.update(entry.id, { stacks }))
  }

  /** Ends an entry with the attempt's result; says it in the answer (the push's, the rollback's). */
  async end(entry: LedgerEntry, result: AttemptOutcome, now: number, report: (line: string) => void): Promise<LedgerEntry> {
    const stacks = (this.ledger.get(entry.id) ?? entry).stacks
    let services: ServiceRecord[] = []
    if (this.describe && stacks.length) {
      services = await this.describe(stacks as Stack[]).catch((error: Error) => {
        this.log.warn('cannot read the services for the ledger', { entry: entry.id, reason: error.message })
        return []
      })
    }
    const problems = [...result.problems]
    const rolledBackTo = entry.rollbackOf === undefined ? undefined : this.ledger.get(entry.rollbackOf)
    if (rolledBackTo && services.length && (result.outcome === 'deployed' || result.outcome === 'unchanged')) {
      const recorded = rolledBackTo.services.filter((s) => stacks.some((stack) => s.name.startsWith(`${stack}_`)))
      const differ = differences(recorded, services)
      for (const line of differ) report(`differs from ledger entry ${rolledBackTo.id}: ${line}`)
      problems.push(...differ.map((d) => `differs from entry ${rolledBackTo.id}: ${d}`))
    }
    const outcome = ledgerResult(result)
    const reason = problems.join('; ') || (result.outcome === 'unchanged' ? 'no stack changed' : undefined)
    const ended = this.safely('end', () => this.ledger.update(entry.id, { stacks, services, endedAt: new Date(now).toISOString(), result: outcome, ...(reason ? { reason } : {}) }))
    report(`ledger entry ${entry.id}: ${outcome}${reason && outcome !== 'succeeded' ? `: ${reason}` : ''}`)
    return ended ?? entry
  }

  /** An unfinished entry no attempt will finish (gitops stopped, and a newer commit came first). */
  abandon(entry: LedgerEntry, reason: string): void {
    this.safely('abandon', () => this.ledger.update(entry.id, { endedAt: new Date().toISOString(), result: 'failed', reason }))
  }

  /** A pushed commit the built-in remote's pre-receive hook refused: it never reaches the deployer. */
  refused(commit: string, problems: string[]): LedgerEntry | undefined {
    const at = new Date().toISOString()
    return this.safely('refused', () => this.ledger.add({ commit, trigger: 'push', stacks: [], services: [], startedAt: at, endedAt: at, result: 'refused by validation', reason: problems.join('; ') }))
  }
}
