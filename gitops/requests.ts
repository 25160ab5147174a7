// What the deployer can be asked besides a commit (a trigger, a rollback to a ledger entry, the resumption of an
// attempt), and the error that ends an attempt when gitops stops while following it.
import { ActivityError } from '../collectors/runtime/errors.ts'
import type { Stack } from './inputs.ts'
import type { LedgerEntry, Trigger } from './ledger.ts'

/** Stopped while following the swarm: the attempt is neither done nor failed; the next gitops resumes it. */
export class Interrupted extends ActivityError {
  constructor() {
    super('gitops', 'stopped while following the deployment', 'the next gitops resumes following it')
  }
}

/** Deploys a ledger entry's commit again (its stacks, or `stacks`), then pins the platform to it. */
export interface RollbackRequest {
  entry: LedgerEntry
  stacks?: Stack[]
  /** The branch head now: it stays undeployed until a newer commit (or an unpin). */
  head?: string
}

export interface RequestOptions {
  /** Already validated (the built-in remote's pre-receive hook did it for this very commit). */
  validated?: boolean
  trigger?: Trigger
  rollback?: RollbackRequest
  /** An unfinished ledger entry of this commit, from a gitops that stopped while following it: it is finished, not repeated. */
  resume?: LedgerEntry
}

