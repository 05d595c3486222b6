/** `npm run loadtest -- --scenario steady [flags]`: see `--help`. */
import { runScenario, summaryLines, TargetError } from "./Loadtest.ts"
import { parseFlags, resolveOptions, UsageError, usage } from "./Options.ts"

export const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  try {
    if (parseFlags(argv).help) {
      process.stdout.write(`${usage}\n`)
      return 0
    }
    const options = resolveOptions(argv)
    const { report, dir } = await runScenario(options, {
      progress: (line) => {
        if (!options.quiet) process.stderr.write(`${line}\n`)
      }
    })
    process.stdout.write(`${summaryLines(report, dir).join("\n")}\n`)
    process.stdout.write(`${JSON.stringify(report)}\n`)
    return report.pass ? 0 : 1
  } catch (e) {
    if (e instanceof UsageError || e instanceof TargetError) {
      process.stderr.write(`loadtest: ${e.message}\n`)
      return 2
    }
    throw e
  }
}

process.exitCode = await main(process.argv.slice(2))
