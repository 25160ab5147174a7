// collectors/github-history-days.ts: events with times (an issue opened, a fork made, stars given on a day) turned into
// one value per UTC day: the count at 00:00:00 UTC of that day, as the history path writes it.
import type { HistorySample } from './runtime/history.ts'

const day = 86_400

/** The first 00:00 UTC at or after `seconds`: the first daily sample that counts an event of that time. */
export function firstMidnightFrom(seconds: number): number {
  return Math.ceil(seconds / day) * day
}

/**
 * Changes of one count at known times, kept per day: +1 when an issue opens, -1 when it closes. An event at
 * 12:34 counts from the next midnight on; one at exactly 00:00:00 counts at that midnight.
 */
export class DailyCount {
  private readonly changes = new Map<number, number>()

  /** An event at `seconds` (Unix time) changing the count by `by`. */
  at(seconds: number, by = 1): void {
    this.addFrom(firstMidnightFrom(seconds), by)
  }

  /** A change counted from the midnight `midnight` on (stars given during the day before it). */
  addFrom(midnight: number, by: number): void {
    this.changes.set(midnight, (this.changes.get(midnight) ?? 0) + by)
  }

  /** The count at each midnight from `first` to `last` (both 00:00 UTC), changes before `first` included. */
  values(first: number, last: number): number[] {
    const times = [...this.changes.keys()].sort((a, b) => a - b)
    const values: number[] = []
    let next = 0
    let count = 0
    for (let midnight = first; midnight <= last; midnight += day) {
      while (next < times.length && times[next]! <= midnight) count += this.changes.get(times[next++]!)!
      values.push(count)
    }
    return values
  }
}

/** The days a repository's history covers: from its first midnight (or --since) to today's 00:00 UTC. */
export interface DayRange {
  first: number
  last: number
}

export function dayRange(createdSeconds: number, nowSeconds: number, since?: number): DayRange {
  const first = Math.max(firstMidnightFrom(createdSeconds), since === undefined ? 0 : firstMidnightFrom(since))
  return { first, last: Math.floor(nowSeconds / day) * day }
}

/** The days of `range`, as the samples of one series. */
export function dailySamples(name: string, labels: Record<string, string>, range: DayRange, values: readonly number[]): HistorySample[] {
  return values.map((value, index) => ({ name, labels, timestampSeconds: range.first + index * day, value }))
}

/** `a - b - c ...` day by day (open issues: opened minus closed). */
export function difference(minuend: readonly number[], ...subtrahends: (readonly number[])[]): number[] {
  return minuend.map((value, index) => subtrahends.reduce((rest, other) => rest - other[index]!, value))
}
