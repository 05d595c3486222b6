import { cleanup } from "@solidjs/testing-library"
import { afterEach, vi } from "vitest"

// jsdom has no canvas: uPlot is replaced by a recorder of what the Chart component asks of it.
vi.mock("uplot", () => {
  class FakePlot {
    static instances: FakePlot[] = []
    width: number
    height: number
    data: unknown[][]
    root: HTMLElement
    constructor(options: { width: number; height: number }, data: unknown[][], target: HTMLElement) {
      this.width = options.width
      this.height = options.height
      this.data = data
      this.root = document.createElement("div")
      this.root.className = "uplot"
      target.appendChild(this.root)
      FakePlot.instances.push(this)
    }
    setData(data: unknown[][]) {
      this.data = data
    }
    setSize(size: { width: number; height: number }) {
      this.width = size.width
      this.height = size.height
    }
    destroy() {
      this.root.remove()
    }
  }
  return { default: FakePlot }
})

afterEach(() => {
  cleanup()
  localStorage.clear()
})
