import { Config } from "effect"

const onOffValue = (name: string) =>
  Config.literal("on", "off", "true", "false")(name).pipe(Config.map((v) => v === "on" || v === "true"))

/** A switch in an environment variable: `on`/`off` (or `true`/`false`), `fallback` when unset. */
export const onOff = (name: string, fallback: boolean) => onOffValue(name).pipe(Config.withDefault(fallback))

/** The same, none when unset (when the default depends on something else). */
export const onOffOption = (name: string) => onOffValue(name).pipe(Config.option)

/** A comma-separated list in an environment variable, trimmed, without empty items; empty when unset. */
export const commaList = (name: string) =>
  Config.string(name).pipe(
    Config.withDefault(""),
    Config.map((text) =>
      text
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")
    )
  )
