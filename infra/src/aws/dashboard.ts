/**
 * The dashboard on AWS Amplify Hosting: an app building `dashboard/` of the Git repository
 * (`dashboardRepository`, branch `dashboardBranch`) with the build spec below, as a single-page app.
 *
 * Built in two steps because the dashboard and the query service need each other's address: the app
 * (whose default domain is the dashboard's origin, which the query service must allow for CORS) is
 * created first; `deploy(apiUrl)` then adds the branch with `VITE_EVENTFLOW_API` = the query URL.
 *
 * Without `dashboardRepository` the app is made for manual deployments (a zip of `dashboard/dist`
 * uploaded to the branch), and its URL is the same.
 */
import * as aws from "@pulumi/aws"
import * as pulumi from "@pulumi/pulumi"
import type { Env } from "../settings.ts"

/** Amplify's build specification: the npm workspaces are installed from the repository root. */
export const DASHBOARD_BUILD_SPEC = `version: 1
frontend:
  phases:
    preBuild:
      commands:
        - nvm install 20
        - nvm use 20
        - npm ci
    build:
      commands:
        - npm run build -w dashboard
  artifacts:
    baseDirectory: dashboard/dist
    files:
      - "**/*"
  cache:
    paths:
      - node_modules/**/*
`

export interface DashboardArgs {
  readonly name: string
  readonly env: Env
  readonly repository: string | undefined
  readonly branch: string
  readonly accessToken: pulumi.Input<string> | undefined
}

export class Dashboard extends pulumi.ComponentResource {
  readonly appId: pulumi.Output<string>
  /** `https://<branch>.<app default domain>`: the dashboard's URL (and its origin). */
  readonly url: pulumi.Output<string>
  private readonly args: DashboardArgs
  private readonly resourceName: string
  private branch: aws.amplify.Branch | undefined

  constructor(name: string, args: DashboardArgs, opts?: pulumi.ComponentResourceOptions) {
    super("eventflow:aws:Dashboard", name, {}, opts)
    this.args = args
    this.resourceName = name
    const app = new aws.amplify.App(
      name,
      {
        name: args.name,
        description: "EventFlow dashboard",
        platform: "WEB",
        ...(args.repository === undefined ? {} : { repository: args.repository }),
        ...(args.accessToken === undefined ? {} : { accessToken: args.accessToken }),
        buildSpec: DASHBOARD_BUILD_SPEC,
        // A single-page app: every path that is not a file serves index.html.
        customRules: [
          {
            source:
              "</^[^.]+$|\\.(?!(css|gif|ico|jpg|js|png|txt|svg|woff|woff2|ttf|map|json|webp)$)([^.]+$)/>",
            target: "/index.html",
            status: "200"
          }
        ]
      },
      { parent: this }
    )
    this.appId = app.id
    // Amplify names a branch's subdomain after the branch, '/' becoming '-'.
    const subdomain = args.branch.replace(/\//g, "-")
    this.url = pulumi.interpolate`https://${subdomain}.${app.defaultDomain}`
  }

  /** Adds the branch that builds the dashboard against `apiUrl`; returns the dashboard's URL. */
  deploy(apiUrl: pulumi.Input<string>): pulumi.Output<string> {
    if (this.branch !== undefined) throw new Error("The dashboard is already deployed.")
    this.branch = new aws.amplify.Branch(
      `${this.resourceName}-${this.args.branch.replace(/\//g, "-")}`,
      {
        appId: this.appId,
        branchName: this.args.branch,
        stage: this.args.env === "prod" ? "PRODUCTION" : "DEVELOPMENT",
        framework: "Web",
        enableAutoBuild: this.args.repository !== undefined,
        environmentVariables: { VITE_EVENTFLOW_API: apiUrl }
      },
      { parent: this }
    )
    this.registerOutputs({ appId: this.appId, url: this.url })
    return this.url
  }
}
