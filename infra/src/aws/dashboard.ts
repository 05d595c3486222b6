/**
 * The dashboard on AWS Amplify Hosting: an app building `dashboard/` of the Git repository
 * (`dashboardRepository`, branch `dashboardBranch`) with the build spec below, as a single-page app.
 *
 * How the dashboard reaches the query API depends on whether the load balancers speak HTTPS:
 *
 * - With a certificate (`apiProxyUrl` unset): the dashboard calls the query URL (`https://…`) directly.
 *   Built in two steps because the dashboard and the query service need each other's address: the app
 *   (whose default domain is the dashboard's origin, which the query service must allow for CORS) is
 *   created first; `deploy(apiUrl)` then adds the branch with `VITE_EVENTFLOW_API` = the query URL.
 * - Without one (`apiProxyUrl` = the query URL, `http://…`): an HTTPS page may not call an `http://`
 *   API (mixed content), so the app rewrites `/v1/*` of its own origin to the query service (a
 *   200 rewrite to an external URL is a reverse proxy) and the branch gets `VITE_EVENTFLOW_API` = ""
 *   (same origin; no CORS needed). The app is then created after the query service.
 *   Amplify's proxy goes through CloudFront, which drops a response that stays silent longer than its
 *   origin read timeout (CloudFront's default: 30 s); the SSE live feed (`/v1/live`) stays open
 *   because the query service sends a tick every second. The proxy's hop to the load balancer is
 *   plain HTTP.
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
  /** The query URL the app proxies `/v1/*` to (when the API is not HTTPS); undefined: no proxy. */
  readonly apiProxyUrl?: pulumi.Input<string> | undefined
}

/** A single-page app: every path that is not a file serves index.html. */
export const SPA_RULE = {
  source: "</^[^.]+$|\\.(?!(css|gif|ico|jpg|js|png|txt|svg|woff|woff2|ttf|map|json|webp)$)([^.]+$)/>",
  target: "/index.html",
  status: "200"
} as const

/** Amplify's rewrite of the API's paths (`/v1/…`) to `apiUrl`: a proxy (status 200). */
export const apiProxyRule = (apiUrl: pulumi.Input<string>) => ({
  source: "/v1/<*>",
  target: pulumi.interpolate`${pulumi.output(apiUrl).apply((u) => u.replace(/\/+$/, ""))}/v1/<*>`,
  status: "200"
})

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
        // Rules apply in order: the API proxy first (its paths would match the SPA rule too).
        customRules: [...(args.apiProxyUrl === undefined ? [] : [apiProxyRule(args.apiProxyUrl)]), SPA_RULE]
      },
      { parent: this }
    )
    this.appId = app.id
    // Amplify names a branch's subdomain after the branch, '/' becoming '-'.
    const subdomain = args.branch.replace(/\//g, "-")
    this.url = pulumi.interpolate`https://${subdomain}.${app.defaultDomain}`
  }

  /**
   * Adds the branch that builds the dashboard against `apiUrl` ("" for its own origin, with
   * `apiProxyUrl`); returns the dashboard's URL.
   */
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
