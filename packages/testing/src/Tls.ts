/**
 * Throwaway TLS material for tests, made with `openssl` (node:crypto cannot issue X.509
 * certificates): a CA, and a server certificate it signs. Lives in a temporary folder, valid two days.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort, reachable } from "./Net.ts"
import { waitFor } from "./Processes.ts"
import { findProgram } from "./Programs.ts"

export interface TestCertificates {
  readonly dir: string
  /** The CA's certificate (PEM): what a client is told to trust. */
  readonly caFile: string
  readonly ca: string
  /** The server's certificate, signed by the CA, and its private key. */
  readonly certFile: string
  readonly keyFile: string
}

/** What is missing to make certificates: nothing, or `openssl`. */
export const opensslMissing = (): ReadonlyArray<string> =>
  findProgram("openssl") === undefined ? ["openssl (apt-get install openssl)"] : []

const openssl = (dir: string, args: ReadonlyArray<string>) =>
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

/**
 * A new CA and a server certificate for `names` (host names and IP addresses; by default
 * `localhost` and `127.0.0.1`).
 */
export const makeCertificates = (
  options: { readonly names?: ReadonlyArray<string>; readonly label?: string } = {}
): TestCertificates => {
  const names = options.names ?? ["localhost", "127.0.0.1"]
  const dir = mkdtempSync(join(tmpdir(), `eventflow-tls-${options.label ?? "test"}-`))
  openssl(dir, [
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    `/CN=EventFlow test CA ${options.label ?? ""}`.trim(),
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign"
  ])
  openssl(dir, ["req", ...EC_KEY, "-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${names[0]}`])
  const altNames = names.map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(",")
  writeFileSync(
    join(dir, "server.ext"),
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=${altNames}`
    ].join("\n")
  )
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "2",
    "-extfile",
    "server.ext"
  ])
  const caFile = join(dir, "ca.crt")
  return {
    dir,
    caFile,
    ca: readFileSync(caFile, "utf8"),
    certFile: join(dir, "server.crt"),
    keyFile: join(dir, "server.key")
  }
}

/** What is missing to run a private Redis over TLS. */
export const tlsRedisMissing = (): ReadonlyArray<string> => [
  ...opensslMissing(),
  ...(findProgram("redis-server") === undefined ? ["redis-server (apt-get install redis-server)"] : [])
]

/**
 * A private redis-server that speaks only TLS, with `certificates`, on a free port of 127.0.0.1
 * (clients are not asked for certificates). `url` is `rediss://127.0.0.1:<port>`.
 */
export const startTlsRedis = async (
  certificates: TestCertificates
): Promise<{ url: string; port: number; stop: () => Promise<void> }> => {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "eventflow-redis-tls-"))
  let output = ""
  const child: ChildProcess = spawn(
    "redis-server",
    [
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--tls-cert-file",
      certificates.certFile,
      "--tls-key-file",
      certificates.keyFile,
      "--tls-ca-cert-file",
      certificates.caFile,
      "--tls-auth-clients",
      "no",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir
    ],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = () => child.exitCode !== null || child.signalCode !== null
  await waitFor(
    `redis-server with TLS on port ${port}`,
    async () => {
      if (exited()) throw new Error(`redis-server with TLS did not start:\n${output.slice(-2000)}`)
      return reachable("127.0.0.1", port, 200)
    },
    10_000
  )
  return {
    url: `rediss://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await new Promise<void>((resolve) => {
        if (exited()) return resolve()
        child.once("exit", () => resolve())
        child.kill("SIGKILL")
      })
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
