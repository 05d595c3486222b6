/**
 * End to end in a real browser: `eventflow dev` serves the built dashboard, Debian's Chromium
 * (driven by playwright-core) opens it, events are posted over HTTP, and the counters, the
 * throughput chart and the event tail move. Screenshots go to test-output/screenshots/.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { freePort, requireServices, tempDir } from "@eventflow/testing"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { postEvents, type Running, repoRoot, startEventflow, stop } from "./support.ts"

// The functions given to waitForFunction run in the page, where there is a document.
declare const document: any

const CHROMIUM = process.env.EVENTFLOW_CHROMIUM ?? "/usr/bin/chromium"
const screenshots = join(repoRoot, "test-output", "screenshots")

const build = () =>
  new Promise<void>((resolve, reject) =>
    execFile("npm", ["run", "-s", "build", "-w", "dashboard"], { cwd: repoRoot }, (error, _out, stderr) =>
      error ? reject(new Error(`the dashboard did not build: ${stderr}`)) : resolve()
    )
  )

const suite = existsSync(CHROMIUM) ? describe : requireServices ? describe : describe.skip
if (!existsSync(CHROMIUM)) {
  console.warn(
    `\n!!! ${requireServices ? "FAILING" : "SKIPPING"} the dashboard's browser test: no Chromium at ${CHROMIUM} (apt-get install chromium) !!!\n`
  )
}

suite("the dashboard in Chromium, served by eventflow dev", () => {
  let server: Running
  let browser: Browser
  let page: Page
  let port: number
  const key = "e2e-dev-key-0123456789"
  let sent = 0

  const value = async (testid: string) =>
    Number(await page.getAttribute(`[data-testid="${testid}"]`, "data-value"))

  const orders = (n: number, type = "com.shop.order.created") =>
    Array.from({ length: n }, () => {
      sent++
      return {
        specversion: "1.0",
        id: `e2e-${sent}`,
        source: "/shop",
        type,
        subject: `user-${sent % 7}`,
        data: { region: ["eu", "us", "apac"][sent % 3], amount: 10 + (sent % 50) }
      }
    })

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`EVENTFLOW_REQUIRE_SERVICES=1 and there is no Chromium at ${CHROMIUM}`)
    mkdirSync(screenshots, { recursive: true })
    await build()
    port = await freePort()
    server = await startEventflow(
      ["dev"],
      { EVENTFLOW_DATA_DIR: join(tempDir("e2e"), "data"), EVENTFLOW_DEV_WRITE_KEY: key },
      port
    )
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run"
      ]
    })
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } })
    page.on("pageerror", (error) => console.error(`page error: ${error.message}`))
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    if (server) await stop(server)
  })

  it("opens live, with every component healthy", async () => {
    await page.goto(`http://127.0.0.1:${port}/`)
    await page.waitForSelector('[data-testid="live-status"]:text("live")', { timeout: 15_000 })
    await page.waitForSelector('[data-testid="health-database"][data-ok="true"]', { timeout: 10_000 })
    for (const name of ["query", "ingest", "process"])
      expect(await page.getAttribute(`[data-testid="health-${name}"]`, "data-ok")).toBe("true")
    await page.waitForSelector('[data-testid="pipeline-events-per-type"]')
    await page.screenshot({ path: join(screenshots, "dashboard-empty.png") })
  })

  it("moves within 2 seconds of events posted with curl's request: counters, chart, tail", async () => {
    const pointsBefore = Number(await page.getAttribute('[data-testid="throughput-chart"]', "data-points"))
    const acceptedBefore = (await value("accepted-total")) || 0
    const posted = await postEvents(port, key, orders(40))
    expect(posted.status).toBe(202)
    const answeredAt = Date.now()
    await page.waitForFunction(
      (expected) =>
        Number(document.querySelector('[data-testid="accepted-total"]')?.getAttribute("data-value")) >=
        expected,
      acceptedBefore + 40,
      { timeout: 2_000, polling: 50 }
    )
    console.log(
      `the dashboard showed the 40 accepted events ${Date.now() - answeredAt} ms after the POST was answered`
    )
    expect(await value("ingest-rate")).toBeGreaterThan(0)
    await page.waitForSelector('[data-testid="event-row"][data-type="com.shop.order.created"]', {
      timeout: 2_000
    })
    expect(
      Number(await page.getAttribute('[data-testid="throughput-chart"]', "data-points"))
    ).toBeGreaterThan(pointsBefore)

    // A steady trickle for a few seconds, so the charts draw lines and the pipelines rows fill.
    for (let i = 0; i < 6; i++) {
      expect(
        (await postEvents(port, key, [...orders(30), ...orders(10, "com.shop.page.viewed")])).status
      ).toBe(202)
      await page.waitForTimeout(700)
    }
    await page.waitForFunction(
      (expected) =>
        Number(document.querySelector('[data-testid="accepted-total"]')?.getAttribute("data-value")) >=
        expected,
      acceptedBefore + 40 + 6 * 40,
      { timeout: 5_000 }
    )
    // events-per-type counts every event: its card shows the types as top keys.
    await page.waitForSelector('[data-testid="pipeline-top-events-per-type"] :text("com.shop.page.viewed")', {
      timeout: 10_000
    })
    await page.screenshot({ path: join(screenshots, "dashboard.png"), fullPage: true })
  })

  it("filters the event tail by type", async () => {
    await page.fill('[data-testid="event-type-filter"]', "com.shop.page.viewed")
    await page.waitForFunction(
      () => {
        const rows: Array<{ getAttribute(name: string): string | null }> = Array.from(
          document.querySelectorAll('[data-testid="event-row"]')
        )
        return rows.length > 0 && rows.every((r) => r.getAttribute("data-type") === "com.shop.page.viewed")
      },
      undefined,
      { timeout: 5_000 }
    )
    await page.screenshot({ path: join(screenshots, "dashboard-filtered.png") })
  })
})
