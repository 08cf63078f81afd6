// The settings form's model: which input each setting gets, the merge patch of an edit, and
// where each of the server's 422 messages belongs.

/** Settings whose value may be null while the input needs to know their kind. */
const KNOWN_KINDS = {
  "automations.cod_confirmation.reminder_delay_seconds": "duration",
  "automations.abandoned_cart.discount_code": "text",
  "automations.abandoned_cart.discount_value": "text",
  "automations.review_request.review_url": "text",
  "automations.post_purchase.rules": "rules",
  "automations.winback.url": "text",
  "auto_reply.hours": "hours",
  "governor.frequency_caps.transactional": "cap",
  "invoice.tax_id": "text",
  "invoice.email": "text",
  "redact_after_uninstall_days": "number",
  "woocommerce.checkout_link": "tristate",
  "woocommerce.plugin_endpoint": "tristate",
  "governor.quiet_hours.purposes": "choices",
  "storefront.chat_button.hours": "hours",
  "storefront.consent_texts": "texts",
  "storefront.popup.incentive.code": "text",
  "automations.repurchase_reminder.intervals": "intervals",
};

/** A repurchase interval per line, "PRODUCT_ID DAYS", to and from [{product_id, days}]. */
export const intervalsText = (value) => (Array.isArray(value) ? value : [])
  .map((item) => `${item.product_id} ${item.days}`).join("\n");
export const parseIntervals = (text) => text.split("\n").map((line) => line.trim()).filter(Boolean)
  .map((line) => {
    const [productId, days] = line.split(/[\s=:]+/);
    return { product_id: productId, days: /^\d+$/.test(days || "") ? Number(days) : days };
  });

/** The languages of per-language texts (the storefront widget's). */
export const TEXT_LANGUAGES = ["en", "de", "es", "fr", "it", "pt", "nl"];

/** The choices of settings that take one of a few values. */
export const CHOICES = {
  "automations.order_confirmation.trigger": ["paid", "placed"],
  "automations.abandoned_cart.discount_source": ["fixed", "unique"],
  "automations.post_purchase.trigger": ["delivered", "shipped"],
  "governor.quiet_hours.purposes": ["marketing", "transactional"],
  "storefront.chat_button.position": ["right", "left"],
  "storefront.popup.trigger": ["delay", "exit", "scroll"],
  "storefront.popup.incentive.kind": ["none", "unique_code", "fixed_code"],
};

/** A setting's choices: the server's schema says them; the table above when it is absent. */
export function choicesOf(field) {
  return field.choices || CHOICES[field.path] || [];
}

const SCHEMA_KINDS = { boolean: "boolean", Boolean: "boolean", integer: "number", Integer: "number",
  number: "number", Number: "number", JsonNumber: "number", string: "text", String: "text", Url: "text",
  Email: "text" };

export const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

function kindOf(path, value, described) {
  if (KNOWN_KINDS[path]) return KNOWN_KINDS[path];
  if (CHOICES[path] || (described && described.choices && !Array.isArray(value))) return "select";
  if (typeof value === "boolean") return "boolean";
  if (Array.isArray(value)) {
    if (path.endsWith("_seconds")) return "steps";
    return "lines";
  }
  if (typeof value === "number" || (value === null && described && /int|num/i.test(described.type || ""))) {
    return path.endsWith("_seconds") ? "duration" : "number";
  }
  if (value === null && described && SCHEMA_KINDS[described.type]) return SCHEMA_KINDS[described.type];
  return "text";
}

/** The order of the form's sections (the server's JSON has its keys sorted). */
const SECTION_ORDER = ["automations", "governor", "auto_reply", "storefront", "invoice", "general", "woocommerce"];
const AUTOMATION_ORDER = ["order_confirmation", "cod_confirmation", "shipping_updates", "abandoned_cart",
  "back_in_stock", "review_request", "post_purchase", "winback", "repurchase_reminder", "coupon_reminder",
  "referral", "attribution"];

/** An object's entries with `enabled` first, then known names in their order, then the rest. */
function ordered(object) {
  const rank = (key) => (key === "enabled" ? -1 : AUTOMATION_ORDER.includes(key) ? AUTOMATION_ORDER.indexOf(key) : 99);
  return Object.entries(object).sort(([a], [b]) => rank(a) - rank(b));
}

/** The form's sections: one per top-level setting, each with its fields (path, kind, nullable). */
export function formSections(settings, schemaFields = {}) {
  const sections = unorderedSections(settings, schemaFields);
  const rank = (key) => (SECTION_ORDER.includes(key) ? SECTION_ORDER.indexOf(key) : 99);
  return sections.sort((a, b) => rank(a.key) - rank(b.key));
}

function unorderedSections(settings, schemaFields) {
  const sections = [];
  const loose = [];
  for (const [name, value] of Object.entries(settings)) {
    if (isObject(value) && !KNOWN_KINDS[name]) {
      const fields = [];
      collect(value, name, fields, schemaFields);
      sections.push({ key: name, fields });
    } else {
      loose.push(field(name, value, schemaFields));
    }
  }
  if (loose.length) sections.push({ key: "general", fields: loose });
  return sections;
}

function field(path, value, schemaFields) {
  const described = schemaFields[path] || {};
  const choices = described.choices || (described.items && described.items.choices);
  return { path, kind: kindOf(path, value, described), description: described.description, choices,
    minimum: described.minimum, maximum: described.maximum,
    nullable: Boolean(described.nullable) || value === null || described.default === null };
}

function collect(object, prefix, fields, schemaFields) {
  for (const [name, value] of ordered(object)) {
    const path = `${prefix}.${name}`;
    if (isObject(value) && !KNOWN_KINDS[path]) collect(value, path, fields, schemaFields);
    else fields.push(field(path, value, schemaFields));
  }
}

export function getAt(object, path) {
  return path.split(".").reduce((node, part) => (node == null ? undefined : node[part]), object);
}

export function setAt(object, path, value) {
  const parts = path.split(".");
  const copy = structuredClone(object);
  let node = copy;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(node[part])) node[part] = {};
    node = node[part];
  }
  node[parts.at(-1)] = value;
  return copy;
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The RFC 7396 merge patch that turns `before` into `after` ({} when nothing changed); a
 * member gone from an object is sent as null, which removes it. */
export function mergePatch(before, after) {
  const patch = {};
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    if (isObject(value) && isObject(before[key])) {
      const inner = mergePatch(before[key], value);
      if (Object.keys(inner).length) patch[key] = inner;
    } else if (!same(value, before[key])) {
      patch[key] = value;
    }
  }
  return patch;
}

/** marshmallow's nested 422 errors → {field path: [messages]}; a message on a list item
 * (".0") or a nested key goes to the nearest field of the form, the rest to `unplaced`. */
export function placeErrors(errors, paths) {
  const placed = {};
  const unplaced = [];
  const known = new Set(paths);
  function walk(node, path) {
    if (Array.isArray(node) && node.every((item) => typeof item === "string")) {
      let target = path;
      while (target && !known.has(target)) target = target.includes(".") ? target.slice(0, target.lastIndexOf(".")) : "";
      if (target) (placed[target] ||= []).push(...node);
      else unplaced.push(`${path}: ${node.join(" ")}`);
    } else if (isObject(node) || Array.isArray(node)) {
      for (const [key, value] of Object.entries(node)) walk(value, path ? `${path}.${key}` : key);
    } else if (typeof node === "string") {
      walk([node], path);
    }
  }
  walk(errors || {}, "");
  return { placed, unplaced };
}

/** The doc's schema answer {fields: {"a.b": {…}}}; a nested one ({a: {b: {type…}}}) flattened too. */
export function schemaFieldsOf(answer) {
  if (!answer) return {};
  if (isObject(answer.fields)) return answer.fields;
  const flat = {};
  (function walk(node, path) {
    for (const [key, value] of Object.entries(node)) {
      const here = path ? `${path}.${key}` : key;
      if (isObject(value) && "type" in value && !isObject(value.type)) flat[here] = value;
      else if (isObject(value)) walk(value, here);
    }
  })(answer, "");
  return flat;
}
