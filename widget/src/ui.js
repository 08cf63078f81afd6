// The parts of the widget loaded on demand (widget-ui.js): the opt-in popup, the notify-me
// form and the inline opt-in block. widget.js loads this file when a trigger fires or the page
// needs a form, and hands over its configuration through init().
import { COUNTRIES, uiStrings } from "./ui-strings.js";

let ctx = null;
let t = null;
let popupDialog = null;
let notifyBlock = null;

const STYLE = `
:host{all:initial;display:block}
:host([hidden]){display:none}
*{box-sizing:border-box}
.box{font:15px/1.45 system-ui,sans-serif;color:#1b1b1b;background:#fff}
h2{font-size:20px;margin:0 0 6px}
p{margin:0 0 10px}
label{display:block;font-weight:600;font-size:14px;margin:8px 0 4px}
select,input{width:100%;font:inherit;padding:9px 10px;border:1px solid #6b6b6b;border-radius:6px;background:#fff;color:#1b1b1b}
input[aria-invalid=true]{border-color:#b00020;border-width:2px}
select:focus-visible,input:focus-visible,button:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}
.err{color:#b00020;font-size:14px;margin:4px 0 0;min-height:0}
.err:empty{display:none}
.consent{font-size:13px;color:#3d3d3d;margin-top:10px}
.send{width:100%;margin-top:8px;padding:11px;border:0;border-radius:6px;background:#0b6e3b;color:#fff;font:600 16px system-ui,sans-serif;cursor:pointer}
.send[disabled]{opacity:.7;cursor:progress}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
.done{font-weight:600;color:#0b6e3b}
dialog{border:0;border-radius:12px;padding:22px;max-width:min(420px,calc(100vw - 32px));width:100%;box-shadow:0 10px 40px rgba(0,0,0,.3)}
dialog::backdrop{background:rgba(0,0,0,.45)}
.x{position:absolute;top:8px;right:8px;width:40px;height:40px;border:0;background:transparent;font-size:26px;line-height:1;cursor:pointer;color:#1b1b1b;border-radius:50%}
.inline{padding:16px;border:1px solid #d0d0d0;border-radius:10px}
@media (prefers-reduced-motion:no-preference){dialog[open]{animation:wa-in .2s ease-out}@keyframes wa-in{from{opacity:0;transform:translateY(12px)}}}
`;

function init(options) {
  ctx = options;
  t = uiStrings(options.lang);
}

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  Object.keys(attributes || {}).forEach((name) => node.setAttribute(name, attributes[name]));
  if (text != null) node.textContent = text;
  return node;
}

function shadowHost(parent, before) {
  const host = element("div", { "data-whatsapp-widget-part": "", lang: ctx.lang });
  const root = host.attachShadow({ mode: "open" });
  root.appendChild(element("style", {}, STYLE));
  if (before) parent.insertBefore(host, before);
  else parent.appendChild(host);
  return { host, root };
}

function defaultCountry() {
  const fromBrowser = (navigator.language || "").split("-")[1];
  const known = (code) => code && COUNTRIES.some((entry) => entry[0] === code.toUpperCase());
  for (const code of [ctx.config.country, ctx.settings.country, fromBrowser]) {
    if (known(code)) return code.toUpperCase();
  }
  return "DE";
}

function countryNames() {
  try {
    const names = new Intl.DisplayNames([ctx.lang], { type: "region" });
    return (code) => names.of(code) || code;
  } catch (error) {
    return (code) => code;
  }
}

/**
 * A phone form: country, number, the consent text, a honeypot. kind "opt-in" or "back-in-stock".
 * Nothing is kept in the browser: the number goes to the API and nowhere else.
 */
function phoneForm(kind, consentText, onDone) {
  const form = element("form", { novalidate: "" });
  const id = kind + "-" + Math.random().toString(36).slice(2, 8);
  const trap = element("div", { class: "hp", "aria-hidden": "true" });
  trap.appendChild(element("label", { for: id + "-w" }, "Website"));
  const honeypot = element("input", { id: id + "-w", name: "website", tabindex: "-1", autocomplete: "off" });
  trap.appendChild(honeypot);
  form.appendChild(trap);

  form.appendChild(element("label", { for: id + "-c" }, t.country));
  const select = element("select", { id: id + "-c", name: "country", autocomplete: "country" });
  const name = countryNames();
  const chosen = defaultCountry();
  COUNTRIES.map(([code, dial]) => [name(code), code, dial])
    .sort((a, b) => a[0].localeCompare(b[0], ctx.lang))
    .forEach(([label, code, dial]) => {
      const option = element("option", { value: code }, `${label} (+${dial})`);
      if (code === chosen) option.selected = true;
      select.appendChild(option);
    });
  form.appendChild(select);

  form.appendChild(element("label", { for: id + "-p" }, t.phone));
  const input = element("input", {
    id: id + "-p", name: "phone", type: "tel", inputmode: "tel", autocomplete: "tel", required: "",
    "aria-describedby": id + "-e " + id + "-t",
  });
  form.appendChild(input);
  const error = element("p", { id: id + "-e", class: "err", role: "alert" });
  form.appendChild(error);
  const consent = element("p", { id: id + "-t", class: "consent" }, consentText);
  form.appendChild(consent);
  const label = kind === "opt-in" ? t.submit : t.notifySubmit;
  const button = element("button", { type: "submit", class: "send" }, label);
  form.appendChild(button);

  const fail = (message) => {
    error.textContent = message;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    if (honeypot.value) {
      onDone(t.done); // a bot: it is told what a person would be, and nothing is sent
      return;
    }
    const phone = input.value.trim();
    if ((phone.match(/\d/g) || []).length < 6) {
      fail(t.invalid);
      return;
    }
    const body = { phone, locale: ctx.lang, country: select.value, consent_text: consentText };
    if (ctx.config.shop) body.shop_key = ctx.config.shop;
    if (kind === "opt-in") body.source = "widget_popup";
    else {
      body.variant_id = notifyBlock.variant.id;
      if (ctx.config.productId) body.product_id = String(ctx.config.productId);
    }
    button.disabled = true;
    button.textContent = t.sending;
    fetch(ctx.endpoint(kind), {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "omit",
    })
      .then((response) => response.json().catch(() => ({})).then((answer) => [response.status, answer]))
      .then(([status, answer]) => {
        if (status >= 200 && status < 300) {
          onDone(answer.status === "already_subscribed" ? t.already : kind === "opt-in" ? t.done : t.notifyDone);
        } else if (status === 429) fail(t.rate);
        else if (status === 400 && answer.field === "phone") fail(/landline|cannot receive/i.test(answer.message || "") ? t.landline : t.invalid);
        else fail(t.error);
      })
      .catch(() => fail(t.error))
      .then(() => {
        button.disabled = false;
        button.textContent = label;
      });
  });
  return form;
}

function consentFor(kind) {
  const own = (ctx.settings.consent_texts || {})[ctx.lang];
  if (kind === "opt-in") return own || t.consent;
  return own || t.notifyConsent;
}

/** A form with its heading, and the "check WhatsApp" line that replaces it on success. */
function section(root, kind, title, intro, className) {
  const box = element("div", { class: "box " + className });
  const heading = element("h2", { id: kind + "-h" }, title);
  box.appendChild(heading);
  if (intro) box.appendChild(element("p", { id: kind + "-i" }, intro));
  const done = element("p", { class: "done", role: "status" });
  const form = phoneForm(kind, consentFor(kind), (message) => {
    form.remove();
    done.textContent = message;
    done.setAttribute("tabindex", "-1");
    done.focus();
  });
  box.appendChild(form);
  box.appendChild(done);
  root.appendChild(box);
  return { box, form, heading };
}

// -- the popup ------------------------------------------------------------------------------

function headline() {
  const incentive = ctx.settings.popup.incentive || { kind: "none" };
  if (incentive.headline) return incentive.headline;
  if (incentive.kind === "unique_code") return t.titlePercent.replace("{percent}", incentive.percent);
  if (incentive.kind === "fixed_code") return t.titleCode;
  return t.titleNone;
}

function focusable(container) {
  return Array.from(container.querySelectorAll("button, input, select, a[href], [tabindex]"))
    .filter((node) => node.tabIndex >= 0 && !node.disabled && node.offsetParent !== null);
}

function popup() {
  if (popupDialog && popupDialog.open) return;
  try {
    localStorage.setItem(ctx.seenKey, String(Date.now())); // when it was shown: nothing about the shopper
  } catch (error) {
    // storage blocked: it may show again
  }
  const opener = document.activeElement;
  if (!popupDialog) {
    const { root } = shadowHost(document.body);
    popupDialog = element("dialog", { "aria-labelledby": "opt-in-h", "aria-describedby": "opt-in-i" });
    const close = element("button", { type: "button", class: "x", "aria-label": t.close }, "×");
    close.addEventListener("click", () => popupDialog.close());
    section(popupDialog, "opt-in", headline(), t.intro, "");
    popupDialog.firstChild.insertBefore(close, popupDialog.firstChild.firstChild);
    popupDialog.addEventListener("keydown", (event) => {
      if (event.key !== "Tab") return;
      const nodes = focusable(popupDialog);
      if (!nodes.length) return;
      const first = nodes[0];
      const last = nodes[nodes.length - 1];
      const active = popupDialog.getRootNode().activeElement;
      if (event.shiftKey && active === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && active === last) {
        event.preventDefault();
        first.focus();
      }
    });
    root.appendChild(popupDialog);
  }
  popupDialog.addEventListener(
    "close",
    () => {
      if (opener && opener.focus && opener !== document.body) opener.focus();
    },
    { once: true },
  );
  popupDialog.showModal(); // Escape closes it (the dialog's cancel), the rest of the page is inert
  const phone = popupDialog.querySelector("input[name=phone]");
  (phone || popupDialog.querySelector("button")).focus();
}

// -- notify me ------------------------------------------------------------------------------

function notifyPlace() {
  const block = document.querySelector("[data-whatsapp-notify-me]");
  if (block) return [block, null];
  const form = document.querySelector('form[action*="/cart/add"]');
  return form ? [form.parentNode, form.nextSibling] : [null, null];
}

function notify(variant, listeners) {
  if (notifyBlock) {
    notifyBlock.show(variant);
    return;
  }
  const [parent, before] = notifyPlace();
  if (!parent) return;
  const { host, root } = shadowHost(parent, before);
  section(root, "back-in-stock", t.notifyTitle, "", "inline");
  notifyBlock = {
    variant,
    show(next) {
      notifyBlock.variant = next;
      host.hidden = next.available; // only for a variant that is sold out
    },
  };
  listeners.push((next) => notifyBlock.show(next));
  notifyBlock.show(variant);
}

// -- inline opt-in --------------------------------------------------------------------------

function inline() {
  document.querySelectorAll("[data-whatsapp-opt-in]").forEach((place) => {
    if (place.hasAttribute("data-whatsapp-drawn")) return;
    place.setAttribute("data-whatsapp-drawn", "");
    const { root } = shadowHost(place);
    const title = place.getAttribute("data-title") || t.inlineTitle;
    section(root, "opt-in", title, t.intro, "inline");
  });
}

const ui = { init, popup, notify, inline };
if (window.WhatsAppWidget && window.WhatsAppWidget._ready) window.WhatsAppWidget._ready(ui);
