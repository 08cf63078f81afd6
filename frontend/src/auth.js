// Where the bearer token of every API request comes from.
// - Inside the Shopify admin: App Bridge's `shopify.idToken()` (a fresh ID token each time).
// - Inside the WordPress admin (docs/admin-api.md, "Token hand-off inside WordPress"): the
//   plugin's page that frames us mints tokens; we ask it by postMessage and accept an answer
//   only from our parent window at the store's origin. A token is kept until 30 s before it
//   expires.

const REQUEST = "wcc:token-request";
const ANSWER = "wcc:token";
const MARGIN_SECONDS = 30;
const TIMEOUT_MS = 10000;

export class TokenUnavailableError extends Error {}

/** The store's origin from the `store` query parameter (an http(s) URL), or null. */
export function storeOrigin(store) {
  try {
    const url = new URL(store);
    return url.protocol === "https:" || url.protocol === "http:" ? url.origin : null;
  } catch {
    return null;
  }
}

export function shopifyTokens(shopify) {
  return { kind: "shopify", token: () => shopify.idToken() };
}

/** Tokens handed over by the parent window at `origin` (the WordPress plugin's page). */
export function parentTokens(origin, { parent = window.parent, self = window, now = () => Date.now() } = {}) {
  let cached = null; // {token, expiresAt (ms)}
  let pending = null;
  let nextId = 1;

  function ask() {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        self.removeEventListener("message", listen);
        reject(new TokenUnavailableError("the store's admin page did not hand over a token"));
      }, TIMEOUT_MS);
      function listen(event) {
        if (event.source !== parent || event.origin !== origin) return;
        const data = event.data;
        if (!data || data.type !== ANSWER || data.id !== id) return;
        clearTimeout(timer);
        self.removeEventListener("message", listen);
        if (typeof data.token !== "string" || !data.token || typeof data.expires_at !== "number") {
          reject(new TokenUnavailableError("the store's admin page answered without a token"));
          return;
        }
        resolve({ token: data.token, expiresAt: data.expires_at * 1000 });
      }
      self.addEventListener("message", listen);
      parent.postMessage({ type: REQUEST, id }, origin);
    });
  }

  return {
    kind: "woocommerce",
    async token() {
      if (cached && now() < cached.expiresAt - MARGIN_SECONDS * 1000) return cached.token;
      if (!pending) {
        pending = ask().then(
          (answer) => { cached = answer; pending = null; return answer; },
          (error) => { pending = null; throw error; });
      }
      return (await pending).token;
    },
  };
}

/** The token source for this page, from where it runs; null when it has none (opened directly). */
export function tokenSource(params, win = window) {
  if (win.shopify && typeof win.shopify.idToken === "function") return shopifyTokens(win.shopify);
  const origin = storeOrigin(params.get("store") || "");
  if (origin && win.parent && win.parent !== win) return parentTokens(origin, { parent: win.parent, self: win });
  return null;
}
