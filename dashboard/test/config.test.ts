import { createRoot } from "solid-js"
import { describe, expect, it, vi } from "vitest"
import { createAuth } from "../src/data/auth.ts"
import { API_KEY, resolveApiBase, TOKEN_KEY, takeTokenFromFragment } from "../src/data/config.ts"

describe("resolveApiBase", () => {
  it("uses the build default, then a remembered ?api=, and ?api= alone forgets it", () => {
    expect(resolveApiBase({ buildDefault: undefined, search: "", storage: localStorage })).toBe("")
    expect(resolveApiBase({ buildDefault: "https://q.example/", search: "", storage: localStorage })).toBe(
      "https://q.example"
    )
    expect(
      resolveApiBase({
        buildDefault: "https://q.example",
        search: "?api=http://localhost:8083/",
        storage: localStorage
      })
    ).toBe("http://localhost:8083")
    expect(localStorage.getItem(API_KEY)).toBe("http://localhost:8083")
    expect(resolveApiBase({ buildDefault: "https://q.example", search: "", storage: localStorage })).toBe(
      "http://localhost:8083"
    )
    expect(
      resolveApiBase({ buildDefault: "https://q.example", search: "?api=", storage: localStorage })
    ).toBe("https://q.example")
    expect(localStorage.getItem(API_KEY)).toBeNull()
  })
})

describe("takeTokenFromFragment", () => {
  it("returns the token and removes it from the URL, keeping the rest", () => {
    const replaceState = vi.fn()
    const token = takeTokenFromFragment(
      { hash: "#token=efr_0123456789ab_secret&view=lag", pathname: "/", search: "?api=x" },
      { replaceState }
    )
    expect(token).toBe("efr_0123456789ab_secret")
    expect(replaceState).toHaveBeenCalledWith(null, "", "/?api=x#view=lag")
  })

  it("leaves a URL without a token alone", () => {
    const replaceState = vi.fn()
    expect(
      takeTokenFromFragment({ hash: "#view=lag", pathname: "/", search: "" }, { replaceState })
    ).toBeNull()
    expect(takeTokenFromFragment({ hash: "", pathname: "/", search: "" }, { replaceState })).toBeNull()
    expect(replaceState).not.toHaveBeenCalled()
  })
})

describe("createAuth", () => {
  it("prefers the fragment's token, stores it, and tells a refused token from a missing one", () =>
    createRoot((dispose) => {
      localStorage.setItem(TOKEN_KEY, "old")
      const auth = createAuth({ storage: localStorage, fromFragment: "efr_new" })
      expect(auth.token()).toBe("efr_new")
      expect(localStorage.getItem(TOKEN_KEY)).toBe("efr_new")
      auth.unauthorized()
      expect(auth.required()).toBe(true)
      expect(auth.rejected()).toBe(true)
      auth.setToken(null)
      expect(localStorage.getItem(TOKEN_KEY)).toBeNull()
      auth.unauthorized()
      expect(auth.rejected()).toBe(false)
      auth.setToken("  efr_typed  ")
      expect(auth.token()).toBe("efr_typed")
      expect(auth.required()).toBe(false)
      dispose()
    }))
})
