// The always-loaded part of the storefront widget: reads its configuration from its own script
// tag, fetches the shop's settings once the page is idle, draws the chat button (fixed
// position: no layout shift) and arms the popup's trigger. Everything else (the popup, the
// notify-me form, the inline opt-in) is in widget-ui.js, loaded only when it is needed.
//
// <script src=".../widget.js" data-shop="<shop key>" data-api="<base of the storefront API>"
//         data-locale="de" data-country="DE" data-product-id="…" data-variants='[{"id":"1","available":false}]'
//         data-variant-id="1" data-ui=".../widget-ui.js" data-settings-url="…" data-cart='…' defer></script>
import { chatStrings, language } from "./lang.js";

const script = document.currentScript;
// the script tag's data-* attributes, over a page's window.WhatsAppWidgetConfig (the WordPress plugin)
const data = Object.assign({}, window.WhatsAppWidgetConfig, script && script.dataset);
// on a Shopify storefront the calls go through the shop's app proxy (same origin, signed by Shopify)
const api = data.api || (window.Shopify ? "/apps/whatsapp/api" : "/storefront/api");
const scriptUrl = script && script.src ? script.src : location.href;
// the connector serves the chunk under /storefront/widget/; a copy (theme extension, plugin) beside itself
const uiUrl = new URL(/\/storefront\/widget\.js$/.test(new URL(scriptUrl).pathname) ? "widget/widget-ui.js" : "widget-ui.js",
  scriptUrl).href;
const config = {
  shop: data.shop || "",
  api,
  locale: data.locale || document.documentElement.lang || "",
  country: (data.country || "").toUpperCase(),
  productId: data.productId || "",
  variants: parseJson(data.variants) || [],
  variantId: data.variantId || "",
  ui: data.ui || uiUrl,
  // the theme editor's choices (app embed block), over the shop's settings
  position: data.position || "",
  colour: data.colour || "",
  popup: data.popup !== "false",
  settingsUrl: data.settingsUrl || "",
  cart: data.cart || "",
};
const SEEN_KEY = "wa-widget:popup:" + config.shop;
const API = (window.WhatsAppWidget = window.WhatsAppWidget || {});
let settings = null;
let uiLoading = null;
let currentVariant = null;
const variantListeners = [];

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch (error) {
    return null;
  }
}

/** The API URL of a storefront call; a cross-origin call names the shop for the CORS preflight. */
function endpoint(name) {
  const url = new URL(api, location.href);
  const route = url.searchParams.get("rest_route"); // WordPress without pretty permalinks
  if (route) url.searchParams.set("rest_route", route.replace(/\/+$/, "") + "/" + name);
  else url.pathname = url.pathname.replace(/\/+$/, "") + "/" + name;
  if (url.origin !== location.origin && config.shop) url.searchParams.set("shop", config.shop);
  return url.href;
}

function whenIdle(callback) {
  const run = () => ("requestIdleCallback" in window ? requestIdleCallback(callback, { timeout: 4000 }) : setTimeout(callback, 200));
  if (document.readyState === "complete") run();
  else addEventListener("load", run, { once: true });
}

function loadUI() {
  if (!uiLoading) {
    uiLoading = new Promise((resolve, reject) => {
      API._ready = resolve;
      const tag = document.createElement("script");
      tag.src = config.ui;
      tag.async = true;
      tag.onerror = () => {
        uiLoading = null;
        reject(new Error("widget-ui did not load"));
      };
      document.head.appendChild(tag);
    });
  }
  return uiLoading.then((ui) => {
    ui.init({ config, settings, endpoint, lang: language(config, settings), seenKey: SEEN_KEY });
    return ui;
  });
}

// -- the chat button ------------------------------------------------------------------------

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (match, key) => (key in values ? values[key] : match));
}

function productName() {
  const meta = document.querySelector('meta[property="og:title"]');
  const heading = document.querySelector("h1");
  return (meta && meta.content) || (heading && heading.textContent.trim()) || document.title;
}

function isProductPage() {
  return Boolean(config.productId || document.querySelector('meta[property="og:type"][content="product"]'));
}

function isCartPage() {
  return Boolean(config.cart) || /\/cart\/?$/.test(location.pathname);
}

let cartText = "";

function readCart() {
  const items = parseJson(config.cart);
  if (Array.isArray(items)) {
    cartText = items.map((item) => `${item.quantity || 1} × ${item.title || item.name}`).join(", ");
    return;
  }
  if (!window.Shopify) return;
  fetch("/cart.js", { credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : null))
    .then((cart) => {
      if (cart && Array.isArray(cart.items)) {
        cartText = cart.items.map((item) => `${item.quantity} × ${item.title}`).join(", ");
      }
    })
    .catch(() => {});
}

function chatMessage(strings) {
  const chat = settings.chat_button;
  if (isCartPage() && cartText) return fill(chat.cart_message || strings.cart, { cart: cartText });
  if (isProductPage()) return fill(chat.product_message || strings.product, { product: productName(), url: location.href });
  return chat.message || strings.greeting;
}

function textColour(hex) {
  const value = parseInt(hex.slice(1), 16);
  const channel = (shift) => {
    const c = ((value >> shift) & 255) / 255;
    return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  };
  const luminance = 0.2126 * channel(16) + 0.7152 * channel(8) + 0.0722 * channel(0);
  return luminance > 0.179 ? "#000" : "#fff";
}

const ICON =
  '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true" focusable="false"><path fill="currentColor" d="M12 2a10 10 0 0 0-8.6 15.1L2 22l5-1.3A10 10 0 1 0 12 2zm0 18.2a8.2 8.2 0 0 1-4.2-1.1l-.3-.2-3 .8.8-2.9-.2-.3A8.2 8.2 0 1 1 12 20.2zm4.5-6.1c-.2-.1-1.5-.7-1.7-.8s-.4-.1-.6.1-.6.8-.8 1-.3.2-.5.1a6.7 6.7 0 0 1-3.3-2.9c-.3-.4.2-.4.7-1.3.1-.2 0-.3 0-.4l-.8-1.8c-.2-.5-.4-.4-.6-.4h-.5a1 1 0 0 0-.7.3 3 3 0 0 0-.9 2.2 5.2 5.2 0 0 0 1.1 2.7 11.8 11.8 0 0 0 4.5 4c1.7.7 2.3.8 3.2.6a2.7 2.7 0 0 0 1.8-1.2 2.2 2.2 0 0 0 .1-1.3c0-.1-.2-.2-.4-.3z"/></svg>';

function drawButton() {
  const chat = settings.chat_button;
  const strings = chatStrings(language(config, settings));
  const host = document.createElement("div");
  host.setAttribute("data-whatsapp-widget", "");
  const root = host.attachShadow({ mode: "open" });
  const side = (config.position || chat.position) === "left" ? "left" : "right";
  const colour = [config.colour, chat.colour, "#25D366"].find((value) => /^#[0-9a-f]{6}$/i.test(value || ""));
  const status = chat.open_now === true ? strings.open : chat.open_now === false ? strings.closed : "";
  root.innerHTML = `<style>
:host{all:initial}
a{position:fixed;bottom:20px;${side}:20px;z-index:2147483000;display:flex;align-items:center;gap:8px;
min-width:56px;min-height:56px;box-sizing:border-box;padding:0 14px;border-radius:28px;background:${colour};
color:${textColour(colour)};font:600 15px/1.2 system-ui,sans-serif;text-decoration:none;box-shadow:0 2px 10px rgba(0,0,0,.25)}
a:focus-visible{outline:3px solid #1a73e8;outline-offset:3px}
small{display:block;font-weight:400;font-size:12px}
@media (prefers-reduced-motion:no-preference){a{transition:transform .15s}a:hover{transform:scale(1.05)}}
</style><a part="button" target="_blank" rel="noopener" href="#"></a>`;
  const link = root.querySelector("a");
  link.innerHTML = ICON;
  link.setAttribute("aria-label", [strings.chat, status].filter(Boolean).join(". "));
  if (chat.label || status) {
    const text = document.createElement("span");
    text.textContent = chat.label || "";
    if (status) {
      const line = document.createElement("small");
      line.textContent = status;
      text.appendChild(line);
    }
    text.setAttribute("aria-hidden", "true");
    link.appendChild(text);
  }
  const update = () => {
    link.href = `https://wa.me/${settings.phone}?text=${encodeURIComponent(chatMessage(strings))}`;
  };
  update();
  // the page may change (variant, cart) between drawing and the click: the link is made anew
  link.addEventListener("pointerdown", update);
  link.addEventListener("focus", update);
  link.addEventListener("click", update);
  document.body.appendChild(host);
}

// -- the popup's trigger --------------------------------------------------------------------

function recentlySeen(days) {
  try {
    const seen = Number(localStorage.getItem(SEEN_KEY) || 0);
    return seen > 0 && Date.now() - seen < days * 86400000;
  } catch (error) {
    return false; // storage blocked: the popup may show, it just cannot be remembered
  }
}

function openPopup() {
  return loadUI().then((ui) => ui.popup());
}

function armPopup() {
  const popup = settings.popup;
  if (!popup.enabled || !config.popup || recentlySeen(popup.frequency_days)) return;
  let fired = false;
  const fire = () => {
    if (fired) return;
    fired = true;
    removeEventListener("scroll", onScroll);
    document.removeEventListener("mouseout", onExit);
    openPopup().catch(() => {});
  };
  const onScroll = () => {
    const height = document.documentElement.scrollHeight - innerHeight;
    if (height <= 0 || (scrollY / height) * 100 >= popup.scroll_percent) fire();
  };
  const onExit = (event) => {
    if (!event.relatedTarget && event.clientY <= 0) fire();
  };
  if (popup.trigger === "scroll") addEventListener("scroll", onScroll, { passive: true });
  else if (popup.trigger === "exit") document.addEventListener("mouseout", onExit);
  else setTimeout(fire, popup.delay_seconds * 1000);
}

// -- variants (notify me) -------------------------------------------------------------------

function variantById(id) {
  const found = config.variants.find((variant) => String(variant.id) === String(id));
  return found ? { id: String(found.id), available: Boolean(found.available) } : null;
}

function setVariant(variant) {
  if (!variant || variant.id == null) return;
  currentVariant = { id: String(variant.id), available: variant.available !== false };
  variantListeners.forEach((listener) => listener(currentVariant));
  if (settings && settings.enabled && settings.notify_me && !currentVariant.available) {
    loadUI().then((ui) => ui.notify(currentVariant, variantListeners)).catch(() => {});
  }
}

function watchVariants() {
  const selected = document.querySelector('form[action*="/cart/add"] [name="id"], [data-whatsapp-notify-me] [name="id"]');
  const first = currentVariant || variantById(config.variantId || (selected && selected.value)) ||
    variantById((config.variants[0] || {}).id);
  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target && target.name === "id") setVariant(variantById(target.value) || { id: target.value, available: true });
  });
  document.addEventListener("variant:change", (event) => {
    const variant = event.detail && (event.detail.variant || event.detail);
    if (variant) setVariant(variant);
  });
  // WooCommerce's variation form announces the chosen variation through jQuery only
  // (add-to-cart-variation.js triggers found_variation on the form; no DOM event reaches us)
  const jq = window.jQuery;
  if (jq && jq.fn && jq.fn.on) {
    jq(document.body).on("found_variation", "form.variations_form", (_event, found) => {
      if (found && found.variation_id) setVariant({ id: found.variation_id, available: found.is_in_stock !== false });
    });
  }
  if (first) setVariant(first);
}

// -- start ----------------------------------------------------------------------------------

function collectBlocks() {
  // an app block may carry the product's data instead of the script tag
  const block = document.querySelector("[data-whatsapp-notify-me]");
  if (block) {
    const json = block.querySelector("script[type='application/json']");
    config.productId = config.productId || block.dataset.productId || "";
    config.variantId = config.variantId || block.dataset.variantId || "";
    if (!config.variants.length) config.variants = parseJson(json ? json.textContent : block.dataset.variants) || [];
  }
}

function start() {
  const url = config.settingsUrl || endpoint("widget-settings");
  const request = new URL(url, location.href);
  if (config.shop && !request.searchParams.has("shop")) request.searchParams.set("shop", config.shop);
  fetch(request.href, { credentials: "omit" })
    .then((response) => (response.ok ? response.json() : null))
    .then((answer) => {
      if (!answer || !answer.enabled) return;
      settings = answer;
      if (settings.chat_button.enabled && settings.phone) {
        if (isCartPage()) readCart();
        drawButton();
      }
      armPopup();
      collectBlocks();
      if (settings.notify_me && (config.productId || config.variants.length)) watchVariants();
      if (settings.inline_opt_in && document.querySelector("[data-whatsapp-opt-in]")) {
        loadUI().then((ui) => ui.inline()).catch(() => {});
      }
    })
    .catch(() => {});
}

if (!API.config) {
  // a second copy on the page (an embed and a hand-added tag) does nothing: one button, one popup
  API.openPopup = () => (settings && settings.enabled ? openPopup() : Promise.resolve());
  API.setVariant = (variant) => {
    if (settings) setVariant(variant);
    else currentVariant = variant;
  };
  API.config = config;
  whenIdle(start);
}
