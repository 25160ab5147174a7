// collectors/github-history-budget.ts: how much of GitHub's rate limits one history run may spend: a share of what
// remains when the run starts (GITHUB_HISTORY_BUDGET_PERCENT, default 20), per limit (GraphQL points, REST requests).
import { UsageError } from './runtime/errors.ts'

export const budgetSetting = 'GITHUB_HISTORY_BUDGET_PERCENT'
export const defaultBudgetPercent = 20

/** GITHUB_HISTORY_BUDGET_PERCENT as a share from 0 to 1; a UsageError naming the setting when it is not a percentage. */
export function budgetShareFrom(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return defaultBudgetPercent / 100
  const percent = Number(value)
  if (!Number.isFinite(percent) || percent <= 0 || percent > 100) {
    throw new UsageError(`${budgetSetting}=${value} is not a percentage from 1 to 100 (the share of the remaining GitHub rate limit one history run may spend); unset it for the default ${defaultBudgetPercent}`)
  }
  return percent / 100
}

/** GitHub's limits a history run draws on: GraphQL points, and REST requests (the star history). */
export type Limit = 'graphql' | 'rest'

interface Account {
  /** What the run may spend; undefined until an answer said what remains. */
  allowed?: number
  /** What remained when the run started, as the first answer told. */
  remainingAtStart?: number
  spent: number
}

export class HistoryBudget {
  private readonly accounts: Record<Limit, Account> = { graphql: { spent: 0 }, rest: { spent: 0 } }

  constructor(readonly share: number) {}

  /** An answer that cost `cost` and left `remaining`: the first one of a limit fixes what the run may spend of it. */
  record(limit: Limit, cost: number, remaining: number | undefined): void {
    const account = this.accounts[limit]
    account.spent += cost
    if (account.allowed === undefined && remaining !== undefined) {
      account.remainingAtStart = remaining + cost
      account.allowed = Math.floor(this.share * account.remainingAtStart)
    }
  }

  /** Whether `cost` more fits in the run's share; before any answer has told what remains, one request may learn it. */
  fits(limit: Limit, cost: number): boolean {
    const account = this.accounts[limit]
    if (account.allowed === undefined) return account.spent === 0
    return account.spent + cost <= account.allowed
  }

  spent(limit: Limit): number {
    return this.accounts[limit].spent
  }

  /** What the run may spend of a limit, and what remained at its start (undefined until an answer told). */
  allowance(limit: Limit): { allowed?: number; remainingAtStart?: number } {
    const { allowed, remainingAtStart } = this.accounts[limit]
    return { allowed, remainingAtStart }
  }
}
