/**
 * The GitHub Actions workflows in .github/workflows/: each one is validated with GitHub's own parser
 * (@actions/workflow-parser: the workflow schema, expressions, then the semantic checks of the
 * conversion to a WorkflowTemplate), then ci.yml and deploy.yml are checked for what they must do.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type * as WorkflowParser from "@actions/workflow-parser"
import { tsImport } from "tsx/esm/api"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"

// The parser's dist imports its schema (workflow-v1.0.min.json) without `with { type: "json" }`, which
// Node's own ESM loader refuses, and vitest hands node_modules to that loader. tsx's loader accepts it.
const { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow }: typeof WorkflowParser =
  await tsImport("@actions/workflow-parser", import.meta.url)

const root = fileURLToPath(new URL("../../", import.meta.url))
const workflowsDir = join(root, ".github", "workflows")
const workflowFiles = readdirSync(workflowsDir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()
/** A GitHub expression as written in a workflow: gh("vars.X") is "${{ vars.X }}". */
const gh = (expression: string) => `\${{ ${expression} }}`
const read = (file: string) => readFileSync(join(workflowsDir, file), "utf8")

/** Every error GitHub's parser reports for a workflow: schema/expression errors, then conversion errors. */
const workflowErrors = async (name: string, content: string): Promise<string[]> => {
  const result = parseWorkflow({ name, content }, new NoOperationTraceWriter())
  const errors = result.context.errors.getErrors().map((e) => e.message)
  if (result.value === undefined) return errors.length > 0 ? errors : [`${name}: empty workflow`]
  const template = await convertWorkflowTemplate(result.context, result.value)
  const all = new Set([...errors, ...(template.errors ?? []).map((e) => e.Message)])
  return [...all]
}

type Step = { name?: string; uses?: string; run?: string; if?: string; with?: Record<string, unknown> }
type Job = {
  name?: string
  if?: string
  "runs-on"?: string
  "timeout-minutes"?: number
  environment?: string | { name: string }
  concurrency?: { group: string; "cancel-in-progress"?: boolean }
  permissions?: Record<string, string>
  services?: Record<string, { image: string; env?: Record<string, string>; ports?: string[] }>
  env?: Record<string, string>
  steps?: Step[]
  uses?: string
}
type Workflow = {
  name?: string
  on: Record<string, any>
  permissions?: Record<string, string>
  concurrency?: { group: string; "cancel-in-progress"?: boolean }
  env?: Record<string, string>
  jobs: Record<string, Job>
}
const load = (file: string): Workflow => parse(read(file)) as Workflow

const action = (uses: string | undefined) => uses?.split("@")[0]
const stepUsing = (job: Job, name: string): Step | undefined =>
  job.steps?.find((s) => action(s.uses) === name)
const indexOf = (job: Job, pred: (s: Step) => boolean) => job.steps?.findIndex(pred) ?? -1

describe("GitHub's workflow parser", () => {
  it("finds the workflows", () => {
    expect(workflowFiles).toEqual(expect.arrayContaining(["ci.yml", "deploy.yml"]))
  })

  it.each(workflowFiles)("%s has no errors", async (file) => {
    const errors = await workflowErrors(file, read(file))
    expect(errors, `${file}:\n  ${errors.join("\n  ")}`).toEqual([])
  })

  // The check above must be able to fail: schema errors, expression errors and semantic errors.
  it("reports a misspelt step key", async () => {
    const errors = await workflowErrors(
      "broken.yml",
      "on: push\njobs: { x: { runs-on: ubuntu-latest, steps: [ { uzes: foo } ] } }"
    )
    expect(errors.length).toBeGreaterThan(0)
    expect(errors.join("\n")).toContain("uzes")
  })

  it("reports a bad expression, a bad value type and a bad cron", async () => {
    const badExpression =
      "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    if: " +
      gh("foo(") +
      "\n    steps:\n      - run: echo\n"
    expect(await workflowErrors("expr.yml", badExpression)).not.toEqual([])
    const badTimeout =
      "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    timeout-minutes: soon\n    steps:\n      - run: echo\n"
    expect(await workflowErrors("timeout.yml", badTimeout)).not.toEqual([])
    const badCron =
      "on:\n  schedule:\n    - cron: nightly\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"
    expect((await workflowErrors("cron.yml", badCron)).join("\n")).toMatch(/cron/i)
  })

  it("accepts a minimal valid workflow", async () => {
    const ok = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n"
    expect(await workflowErrors("ok.yml", ok)).toEqual([])
  })
})

describe.each(workflowFiles)("%s hygiene", (file) => {
  const text = read(file)
  const wf = load(file)
  const allSteps = Object.values(wf.jobs).flatMap((j) => j.steps ?? [])

  it("pins every action to a version tag", () => {
    const uses = [...allSteps.map((s) => s.uses), ...Object.values(wf.jobs).map((j) => j.uses)].filter(
      (u): u is string => u !== undefined
    )
    expect(uses.length).toBeGreaterThan(0)
    for (const u of uses) {
      if (u.startsWith("./") || u.startsWith("docker://")) continue
      expect(u, `uses: ${u}`).toMatch(/^[\w.-]+\/[\w.-]+(\/[^@\s]+)?@v\d+(\.\d+){0,2}$/)
    }
  })

  it("never prints or inlines a secret in a script", () => {
    expect(text).not.toMatch(/echo[^\n]*\$\{\{\s*secrets\./)
    for (const s of allSteps) {
      if (s.run !== undefined) expect(s.run, `run: ${s.run}`).not.toMatch(/\$\{\{\s*secrets\./)
    }
  })

  it("explains itself in a header comment", () => {
    expect(text.startsWith("#")).toBe(true)
  })
})

describe("ci.yml", () => {
  const wf = load("ci.yml")
  const job = Object.values(wf.jobs)[0]!

  it("runs on push and pull_request with read-only permissions, superseded runs cancelled", () => {
    expect(Object.keys(wf.on)).toEqual(expect.arrayContaining(["push", "pull_request"]))
    expect(wf.permissions).toEqual({ contents: "read" })
    expect(wf.concurrency?.group).toContain("github.ref")
    expect(wf.concurrency?.["cancel-in-progress"]).toBe(true)
  })

  it("is one ubuntu job, at most 90 minutes, that runs .ci/run", () => {
    expect(Object.keys(wf.jobs)).toHaveLength(1)
    expect(job["runs-on"]).toBe("ubuntu-latest")
    expect(job["timeout-minutes"]).toBeGreaterThan(0)
    expect(job["timeout-minutes"]).toBeLessThanOrEqual(90)
    expect(job.steps?.some((s) => s.run?.trim() === "bash .ci/run")).toBe(true)
    expect(readFileSync(join(root, ".ci", "run"), "utf8")).toContain("npm run services:up")
  })

  it("has PostgreSQL 16 (trust, database test) on 5432 and Redis 7 on 6379 as services", () => {
    const { postgres, redis } = job.services ?? {}
    expect(postgres?.image).toMatch(/^postgres:16\b/)
    expect(postgres?.env?.POSTGRES_HOST_AUTH_METHOD).toBe("trust")
    expect(postgres?.env?.POSTGRES_DB).toBe("test")
    expect(postgres?.ports).toContain("5432:5432")
    expect(redis?.image).toMatch(/^redis:7\b/)
    expect(redis?.ports).toContain("6379:6379")
  })

  it("sets up Node 20 (npm cache) and Java 17 (temurin) before .ci/run", () => {
    const node = stepUsing(job, "actions/setup-node")
    expect(String(node?.with?.["node-version"])).toMatch(/^20(\.|$)/)
    expect(node?.with?.cache).toBe("npm")
    const java = stepUsing(job, "actions/setup-java")
    expect(String(java?.with?.["java-version"])).toBe("17")
    expect(java?.with?.distribution).toBe("temurin")
    const run = indexOf(job, (s) => s.run?.trim() === "bash .ci/run")
    expect(indexOf(job, (s) => action(s.uses) === "actions/setup-node")).toBeLessThan(run)
    expect(indexOf(job, (s) => action(s.uses) === "actions/setup-java")).toBeLessThan(run)
  })

  it("caches the Maven repository and the Kafka jars where infra/services/up.sh keeps them", () => {
    const lib = readFileSync(join(root, "infra", "services", "lib.sh"), "utf8")
    const home = /SERVICES_HOME="\$\{EVENTFLOW_SERVICES_HOME:-\$HOME\/([^}"]+)\}"/.exec(lib)?.[1]
    expect(home, "default EVENTFLOW_SERVICES_HOME in infra/services/lib.sh").toBeDefined()
    const cache = stepUsing(job, "actions/cache")
    const paths = String(cache?.with?.path)
      .split("\n")
      .map((p) => p.trim())
      .filter(Boolean)
    expect(paths).toContain("~/.m2/repository")
    expect(paths.some((p) => p.startsWith(`~/${home}/`) || p === `~/${home}`)).toBe(true)
    expect(String(cache?.with?.key)).toContain("infra/services/pom.xml")
    const run = indexOf(job, (s) => s.run?.trim() === "bash .ci/run")
    expect(indexOf(job, (s) => action(s.uses) === "actions/cache")).toBeLessThan(run)
  })

  it("audits the runtime dependencies after the install, even when tests fail", () => {
    const audit = indexOf(job, (s) => s.run?.trim() === "npm audit --omit=dev --audit-level=high")
    expect(audit).toBeGreaterThan(indexOf(job, (s) => s.run?.trim() === "bash .ci/run"))
    expect(job.steps?.[audit]?.if).toBe("success() || failure()")
  })

  it("always uploads test-output/", () => {
    const upload = stepUsing(job, "actions/upload-artifact")
    expect(upload?.if).toBe("always()")
    expect(String(upload?.with?.path)).toMatch(/^test-output\/?$/)
  })
})

describe("deploy.yml", () => {
  const wf = load("deploy.yml")
  const jobs = Object.entries(wf.jobs).map(([id, job]) => {
    const pulumi = stepUsing(job, "pulumi/actions")
    return { id, job, pulumi, command: pulumi?.with?.command, stack: pulumi?.with?.["stack-name"] }
  })
  const pulumiJobs = jobs.filter((j) => j.pulumi !== undefined)
  const environmentOf = (job: Job) =>
    typeof job.environment === "string" ? job.environment : job.environment?.name

  it("triggers on pull_request, push to main and a workflow_dispatch stack choice", () => {
    expect(wf.on).toHaveProperty("pull_request")
    expect(wf.on.push?.branches).toEqual(["main"])
    const stack = wf.on.workflow_dispatch?.inputs?.stack
    expect(stack?.type).toBe("choice")
    expect(stack?.options).toEqual(["aws-dev", "aws-prod"])
  })

  it("uses OIDC with only the permissions it needs", () => {
    expect(wf.permissions).toEqual({ "id-token": "write", contents: "read", "pull-requests": "write" })
    const text = read("deploy.yml")
    expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY/)
    expect(wf.env?.PULUMI_ACCESS_TOKEN).toBe(gh("secrets.PULUMI_ACCESS_TOKEN"))
  })

  it("every Pulumi job: npm ci, then AWS credentials through OIDC, then pulumi/actions@v6", () => {
    expect(pulumiJobs.length).toBeGreaterThanOrEqual(3)
    for (const { id, job, pulumi } of pulumiJobs) {
      expect(pulumi?.uses, id).toBe("pulumi/actions@v6")
      const aws = stepUsing(job, "aws-actions/configure-aws-credentials")
      expect(aws?.uses, id).toBe("aws-actions/configure-aws-credentials@v4")
      expect(aws?.with?.["role-to-assume"], id).toBe(gh("vars.AWS_DEPLOY_ROLE_ARN"))
      expect(aws?.with?.["aws-region"], id).toBe(gh("vars.AWS_REGION"))
      const npmCi = indexOf(job, (s) => /^npm ci\b/.test(s.run?.trim() ?? ""))
      const creds = indexOf(job, (s) => s === aws)
      const deploy = indexOf(job, (s) => s === pulumi)
      expect(npmCi, id).toBeGreaterThanOrEqual(0)
      expect(npmCi, id).toBeLessThan(deploy)
      expect(creds, id).toBeLessThan(deploy)
      expect(String(stepUsing(job, "actions/setup-node")?.with?.["node-version"]), id).toMatch(/^20(\.|$)/)
    }
  })

  it("previews aws-dev on pull requests and comments on the PR", () => {
    const previews = pulumiJobs.filter((j) => j.command === "preview")
    expect(previews).toHaveLength(1)
    const [preview] = previews
    expect(preview?.stack).toBe("aws-dev")
    expect(preview?.pulumi?.with?.["comment-on-pr"]).toBe(true)
    expect(preview?.job.if).toContain("github.event_name == 'pull_request'")
  })

  it("ups aws-dev on push to main", () => {
    const dev = pulumiJobs.filter((j) => j.command === "up" && j.stack === "aws-dev")
    expect(dev).toHaveLength(1)
    expect(dev[0]?.job.if).toContain("github.event_name == 'push' && github.ref == 'refs/heads/main'")
  })

  it("ups aws-prod only on workflow_dispatch, in the production environment", () => {
    const prodJobs = jobs.filter((j) => j.stack === "aws-prod" || JSON.stringify(j.job).includes("aws-prod"))
    expect(prodJobs).toHaveLength(1)
    const prod = prodJobs[0]!
    expect(prod.command).toBe("up")
    expect(environmentOf(prod.job)).toBe("production")
    expect(prod.job.if).toContain("github.event_name == 'workflow_dispatch'")
    expect(prod.job.if).toContain("inputs.stack == 'aws-prod'")
    expect(prod.job.if).not.toMatch(/'push'|'pull_request'|\|\|/)
  })

  it("runs one operation per stack at a time and never cancels an up in progress", () => {
    const ups = pulumiJobs.filter((j) => j.command === "up")
    const groups = ups.map((j) => j.job.concurrency?.group)
    expect(new Set(groups).size).toBe(ups.length)
    for (const { id, job, stack } of ups) {
      expect(job.concurrency?.group, id).toContain(stack)
      expect(job.concurrency?.["cancel-in-progress"], id).toBe(false)
    }
    expect(wf.concurrency?.["cancel-in-progress"] ?? false).toBe(false)
  })
})
