/**
 * How EventFlow connects to PostgreSQL: TLS from EVENTFLOW_PG_SSL and EVENTFLOW_PG_SSL_CA_FILE, or
 * from the URL's `sslmode`. node-postgres lets TLS parameters in the URL override the `ssl` option
 * (and reads `sslmode=require` as "verify"), so they are taken out of the URL and turned into the
 * `ssl` option here, with libpq's meanings.
 */
import type { ConnectionOptions } from "node:tls"
import { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Config, ConfigError, Effect, Either, Layer, Option, Redacted } from "effect"
import { pemFileConfig, readConfigFile, readPemFile } from "./Tls.ts"

/**
 * `off`: plaintext. `require`: encrypted, the certificate not checked (unless a CA is given: then
 * its chain is, as libpq does). `verify-ca`: the chain is checked, not the name. `verify-full`: the
 * chain and the host name.
 */
export type PgSslMode = "off" | "require" | "verify-ca" | "verify-full"

export interface PgSslSettings {
  /** EVENTFLOW_PG_SSL; none: what the URL says. */
  readonly mode: Option.Option<PgSslMode>
  /** PEM of the CA to trust (EVENTFLOW_PG_SSL_CA_FILE). */
  readonly ca: Option.Option<string>
}

export const PgSslConfig: Config.Config<PgSslSettings> = Config.all({
  mode: Config.option(Config.literal("off", "require", "verify-ca", "verify-full")("EVENTFLOW_PG_SSL")),
  ca: pemFileConfig("EVENTFLOW_PG_SSL_CA_FILE")
})

/** The URL's own TLS parameters, as node-postgres and libpq spell them. */
const URL_TLS_PARAMS = ["sslmode", "ssl", "sslrootcert", "sslcert", "sslkey", "uselibpqcompat"]

const modeOfUrl = (
  params: URLSearchParams
): Either.Either<Option.Option<PgSslMode>, ConfigError.ConfigError> => {
  const sslmode = params.get("sslmode")
  if (sslmode !== null) {
    switch (sslmode) {
      case "disable":
      case "allow":
        return Either.right(Option.some("off"))
      case "prefer":
      case "require":
      case "no-verify":
        return Either.right(Option.some("require"))
      case "verify-ca":
      case "verify-full":
        return Either.right(Option.some(sslmode))
      default:
        return Either.left(
          ConfigError.InvalidData(
            [],
            `DATABASE_URL has sslmode=${sslmode}: use disable, require, no-verify, verify-ca or verify-full`
          )
        )
    }
  }
  const ssl = params.get("ssl")
  if (ssl === null) return Either.right(Option.none())
  if (ssl === "no-verify") return Either.right(Option.some("require"))
  // node-postgres's `ssl=true` verifies the certificate and the name.
  return Either.right(Option.some(ssl === "0" || ssl === "false" ? "off" : "verify-full"))
}

export interface PgConnectionOptions {
  /** The URL without its TLS parameters. */
  readonly url: string
  /** node-postgres's `ssl` option; undefined: its own defaults (the URL had no TLS setting). */
  readonly ssl: boolean | ConnectionOptions | undefined
  readonly mode: PgSslMode | undefined
}

/** The URL and the `ssl` option node-postgres gets for `url` under `settings`. */
export const pgConnectionOptions = (
  url: string,
  settings: PgSslSettings
): Either.Either<PgConnectionOptions, ConfigError.ConfigError> =>
  Either.gen(function* () {
    const at = url.indexOf("?")
    const params = new URLSearchParams(at === -1 ? "" : url.slice(at + 1))
    const urlMode = yield* modeOfUrl(params)
    const mode = Option.getOrUndefined(Option.orElse(settings.mode, () => urlMode))
    const fromUrl = (name: string) => {
      const path = params.get(name)
      return path === null ? Either.right(undefined) : readPemFile(`${name} of DATABASE_URL`, path)
    }
    const ca = Option.isSome(settings.ca) ? settings.ca.value : yield* fromUrl("sslrootcert")
    const cert = yield* fromUrl("sslcert")
    if (mode === undefined && ca === undefined && cert === undefined) {
      return { url, ssl: undefined, mode: undefined }
    }
    for (const name of URL_TLS_PARAMS) params.delete(name)
    const query = params.toString()
    const bare = (at === -1 ? url : url.slice(0, at)) + (query === "" ? "" : `?${query}`)
    // A CA without a mode means: check the certificate against it.
    const effective: PgSslMode = mode ?? "verify-full"
    if (effective === "off") {
      if (Option.isSome(settings.ca)) {
        return yield* Either.left(
          ConfigError.InvalidData(
            [],
            "EVENTFLOW_PG_SSL_CA_FILE is set, but TLS to PostgreSQL is off (EVENTFLOW_PG_SSL=off or sslmode=disable)"
          )
        )
      }
      return { url: bare, ssl: false, mode: effective }
    }
    const keyPath = params.get("sslkey")
    const keyText = keyPath === null ? undefined : yield* readConfigFile("sslkey of DATABASE_URL", keyPath)
    const ssl: ConnectionOptions = {
      ...(ca === undefined ? {} : { ca: [ca] }),
      ...(cert === undefined ? {} : { cert }),
      ...(keyText === undefined ? {} : { key: keyText }),
      ...(effective === "require" && ca === undefined ? { rejectUnauthorized: false } : {}),
      ...(effective === "require" || effective === "verify-ca"
        ? { checkServerIdentity: () => undefined }
        : {})
    }
    return { url: bare, ssl, mode: effective }
  })

/** Reads the TLS settings and gives what node-postgres needs to connect to `url` (also for a plain `pg.Client`). */
export const pgConnection = (url: Redacted.Redacted<string>) =>
  Effect.flatMap(PgSslConfig, (settings) => pgConnectionOptions(Redacted.value(url), settings))

const reasonOf = (error: SqlError) => {
  const cause = error.cause
  return cause instanceof Error && cause.message !== ""
    ? `${error.message} (${cause.message})`
    : error.message
}

/**
 * PgClient.layer with the TLS settings of the environment: every PostgreSQL pool of EventFlow in
 * distributed mode comes from here. A failed connection says why (a refused certificate, a refused port).
 */
export const layerPgClient = (options: {
  readonly url: Redacted.Redacted<string>
  readonly maxConnections?: number
  readonly applicationName?: string
}) =>
  Layer.unwrapEffect(
    Effect.map(pgConnection(options.url), (connection) =>
      PgClient.layer({
        ...options,
        url: Redacted.make(connection.url),
        ...(connection.ssl === undefined ? {} : { ssl: connection.ssl })
      }).pipe(
        Layer.mapError((error) =>
          error instanceof SqlError ? new SqlError({ cause: error.cause, message: reasonOf(error) }) : error
        )
      )
    )
  )
