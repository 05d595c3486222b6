/** Write keys travel as `Authorization: Bearer <key>`, or Basic with the key as the user name. */
export const presentedKey = (authorization: string | undefined): string | undefined => {
  if (authorization === undefined) return undefined
  const space = authorization.indexOf(" ")
  if (space === -1) return undefined
  const scheme = authorization.slice(0, space).toLowerCase()
  const credentials = authorization.slice(space + 1).trim()
  if (credentials === "") return undefined
  if (scheme === "bearer") return credentials
  if (scheme === "basic") {
    const decoded = Buffer.from(credentials, "base64").toString("utf8")
    const colon = decoded.indexOf(":")
    const user = colon === -1 ? decoded : decoded.slice(0, colon)
    return user === "" ? undefined : user
  }
  return undefined
}
