/**
 * The Pulumi program (`pulumi up` from the repo root; Pulumi.yaml points here). The stack's
 * `eventflow:target` chooses what it builds: `aws` (the default) or `local` (Docker).
 */
import * as pulumi from "@pulumi/pulumi"
import { awsStack } from "./src/aws/index.ts"
import { localStack } from "./src/local/index.ts"

const config = new pulumi.Config("eventflow")
const target = config.get("target") ?? "aws"
if (target !== "aws" && target !== "local") {
  throw new Error(`eventflow:target must be 'aws' or 'local', not '${target}'`)
}

const outputs = target === "aws" ? awsStack() : localStack()

export const ingestUrl = outputs.ingestUrl
export const queryUrl = outputs.queryUrl
export const dashboardUrl = outputs.dashboardUrl
/** What the operator should know about this stack (the AWS stack also logs them at deployment). */
export const warnings = "warnings" in outputs ? outputs.warnings : []
