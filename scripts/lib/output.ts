// What the scripts print: numbered steps on one line each, details indented under them, failures as one line with the fix.

export interface Output {
  /** `[2/7] swarm         what it did`. */
  step(name: string, text: string): void
  /** An indented detail line under the current step. */
  detail(text: string): void
  /** A plain line. */
  line(text?: string): void
}

export function createOutput(totalSteps: number, write: (text: string) => void = (text) => process.stdout.write(text)): Output {
  let current = 0
  return {
    step(name, text) {
      current++
      write(`[${current}/${totalSteps}] ${name.padEnd(14)}${text}\n`)
    },
    detail(text) {
      write(`      ${text}\n`)
    },
    line(text = '') {
      write(`${text}\n`)
    },
  }
}

export function seconds(sinceMs: number): string {
  const elapsed = (Date.now() - sinceMs) / 1000
  return elapsed < 10 ? `${elapsed.toFixed(1)} s` : `${Math.round(elapsed)} s`
}

/** Runs a script's main function: a StepError or any other error becomes one line on stderr and exit code 1. */
export async function runScript(name: string, main: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main()
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error)
    process.stderr.write(`activity ${name}: ${text.replace(/\s*\n\s*/g, ' ').trim()}\n`)
    process.exitCode = 1
  }
}
