#!/usr/bin/env node
// `activity` as the collectors image has it: collect, sources and check; the whole command is scripts/activity.ts.
import { collectorCommands, collectorUsage, environmentUsage, runCommandLine } from './commands.ts'

/** collectors/ next to this file's folder, in the sources (collectors/runtime/cli.ts) and in the bundle (dist/collectors/runtime/cli.js) alike. */
const collectorsDir = new URL('../', import.meta.url)

const usage = `usage: activity <command>

${collectorUsage}

${environmentUsage}`

void runCommandLine(process.argv.slice(2), process.env, usage, collectorCommands(collectorsDir)).then((code) => (process.exitCode = code))
