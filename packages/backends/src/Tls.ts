/**
 * TLS settings of the connections to Redis (and the certificate files the PostgreSQL and Kafka
 * settings share), read once at start. A CA file that cannot be read is a configuration error
 * whose message names the variable.
 */
import { readFileSync } from "node:fs"
import type { ConnectionOptions } from "node:tls"
import { onOff } from "@eventflow/core"
import { Config, ConfigError, Effect, Either, Option } from "effect"

const why = (error: unknown) => {
  const code = (error as { code?: string }).code
  if (code === "ENOENT") return "no such file"
  if (code === "EACCES" || code === "EPERM") return "permission denied"
  if (code === "EISDIR") return "it is a folder"
  return error instanceof Error ? error.message : String(error)
}

/** The text of a file named in the configuration, read now; `what` names where the path came from. */
export const readConfigFile = (
  what: string,
  path: string
): Either.Either<string, ConfigError.ConfigError> => {
  try {
    return Either.right(readFileSync(path, "utf8"))
  } catch (error) {
    return Either.left(
      ConfigError.InvalidData([], `${what} is ${path}, which cannot be read (${why(error)})`)
    )
  }
}

/** The text of a PEM certificate file, read now. */
export const readPemFile = (what: string, path: string): Either.Either<string, ConfigError.ConfigError> =>
  Either.flatMap(readConfigFile(what, path), (text) =>
    text.includes("-----BEGIN CERTIFICATE-----")
      ? Either.right(text)
      : Either.left(ConfigError.InvalidData([], `${what} is ${path}, which holds no PEM certificate`))
  )

/** The PEM text of the CA file that `variable` names (none when unset or empty). */
export const pemFileConfig = (variable: string): Config.Config<Option.Option<string>> =>
  Config.option(Config.string(variable)).pipe(
    Config.mapOrFail((path) =>
      Option.isNone(path) || path.value.trim() === ""
        ? Either.right(Option.none())
        : Either.map(readPemFile(variable, path.value.trim()), Option.some)
    )
  )

export interface RedisTlsSettings {
  /** PEM of the CA to trust instead of Node's bundled CAs (EVENTFLOW_REDIS_TLS_CA_FILE). */
  readonly ca: Option.Option<string>
  /** The name the server's certificate is checked against, when not the URL's host. */
  readonly servername: Option.Option<string>
  /** Skip verifying the server's certificate (EVENTFLOW_REDIS_TLS_INSECURE=on). */
  readonly insecure: boolean
}

export const RedisTlsConfig: Config.Config<RedisTlsSettings> = Config.all({
  ca: pemFileConfig("EVENTFLOW_REDIS_TLS_CA_FILE"),
  servername: Config.option(Config.string("EVENTFLOW_REDIS_TLS_SERVERNAME")).pipe(
    Config.map(Option.filter((name) => name.trim() !== ""))
  ),
  insecure: onOff("EVENTFLOW_REDIS_TLS_INSECURE", false)
})

const isTlsUrl = (url: string) => /^rediss:\/\//i.test(url.trim())

/**
 * ioredis's `tls` option for a Redis URL: none for `redis://`; for `rediss://`, TLS that verifies
 * the server's certificate (against the CA file when given) unless insecure. ioredis 5 turns TLS on
 * for `rediss://` by itself, but only with Node's defaults: the CA and the name come from here.
 * TLS settings next to a `redis://` URL are an error rather than silently plaintext.
 */
export const redisTlsOptions = (
  url: string,
  settings: RedisTlsSettings
): Either.Either<ConnectionOptions | undefined, ConfigError.ConfigError> => {
  if (!isTlsUrl(url)) {
    const set = [
      Option.isSome(settings.ca) ? "EVENTFLOW_REDIS_TLS_CA_FILE" : undefined,
      Option.isSome(settings.servername) ? "EVENTFLOW_REDIS_TLS_SERVERNAME" : undefined,
      settings.insecure ? "EVENTFLOW_REDIS_TLS_INSECURE" : undefined
    ].filter((name) => name !== undefined)
    return set.length === 0
      ? Either.right(undefined)
      : Either.left(
          ConfigError.InvalidData(
            [],
            `${set.join(" and ")} ${set.length === 1 ? "is" : "are"} set, but the Redis URL does not start with rediss://: use rediss:// to connect over TLS`
          )
        )
  }
  return Either.right({
    ...(Option.isSome(settings.ca) ? { ca: [settings.ca.value] } : {}),
    ...(Option.isSome(settings.servername) ? { servername: settings.servername.value } : {}),
    rejectUnauthorized: !settings.insecure
  })
}

/** Reads the Redis TLS settings and gives the `tls` option for `url`; warns when verification is off. */
export const redisTls = (url: string) =>
  Effect.gen(function* () {
    const tls = yield* Effect.flatMap(RedisTlsConfig, (settings) => redisTlsOptions(url, settings))
    if (tls?.rejectUnauthorized === false) {
      yield* Effect.logWarning(
        "EVENTFLOW_REDIS_TLS_INSECURE=on: the Redis server's certificate is not verified (encrypted, but open to impersonation)"
      )
    }
    return tls
  })

const CERTIFICATE_CODES =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH/

/** A TLS error about the server's certificate: waiting will not fix it. */
export const isCertificateError = (error: unknown) =>
  typeof (error as { code?: unknown })?.code === "string" &&
  CERTIFICATE_CODES.test((error as { code: string }).code)
