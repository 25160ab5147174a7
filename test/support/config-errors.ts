// The contract of every activity.yml error: a ConfigError whose message is one line.
import * as assert from 'uvu/assert'
import { ConfigError } from '../../collectors/runtime/errors.ts'

/** The message of the ConfigError `parse` throws, asserted to be one line; fails when it throws none. */
export function configProblem(parse: () => unknown): string {
  try {
    parse()
  } catch (error) {
    assert.instance(error, ConfigError)
    const message = (error as Error).message
    assert.not.match(message, /\n/, 'one line')
    return message
  }
  throw new Error('expected a ConfigError')
}
