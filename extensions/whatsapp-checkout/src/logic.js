// What the checkout extension decides, without Shopify's APIs: unit-tested with node --test.

export const ATTRIBUTE_OPT_IN = '_wcc_whatsapp_opt_in';
export const ATTRIBUTE_CONSENT_TEXT = '_wcc_consent_text';

// Marketing, said as such: ticking the box starts a double opt-in on WhatsApp; order updates
// need no box. The same words as the WordPress plugin's box.
export const CONSENT_TEXTS = {
  en: 'Send me offers and news on WhatsApp. You can unsubscribe at any time by replying STOP.',
  de: 'Schickt mir Angebote und Neuigkeiten per WhatsApp. Abmelden jederzeit mit der Antwort STOP.',
  es: 'Envíame ofertas y novedades por WhatsApp. Puedes darte de baja cuando quieras respondiendo STOP.',
  fr: 'Envoyez-moi offres et nouveautés sur WhatsApp. Désinscription à tout moment en répondant STOP.',
  it: 'Inviatemi offerte e novità su WhatsApp. Posso annullare l’iscrizione in qualsiasi momento rispondendo STOP.',
  pt: 'Envie-me ofertas e novidades pelo WhatsApp. Posso cancelar a qualquer momento respondendo STOP.',
  nl: 'Stuur me aanbiedingen en nieuws via WhatsApp. Afmelden kan altijd door STOP te antwoorden.',
};

/** The text the box shows: the merchant's own (extension setting) or ours in the buyer's language. */
export function consentText(languageTag, override) {
  if (typeof override === 'string' && override.trim().length >= 10) return override.trim();
  const language = String(languageTag || 'en').toLowerCase().split(/[-_]/)[0];
  return CONSENT_TEXTS[language] || CONSENT_TEXTS.en;
}

/** The cart attribute changes for the box's state: the connector reads them from the order. */
export function attributeChanges(checked, text) {
  return [
    { type: 'updateAttribute', key: ATTRIBUTE_OPT_IN, value: checked ? 'yes' : 'no' },
    { type: 'updateAttribute', key: ATTRIBUTE_CONSENT_TEXT, value: checked ? text : '' },
  ];
}

/** The order's numeric id from the thank-you page's order confirmation (an OrderIdentity gid). */
export function orderIdOf(orderConfirmation) {
  const gid = orderConfirmation && orderConfirmation.order && orderConfirmation.order.id;
  const match = typeof gid === 'string' ? gid.match(/(\d+)$/) : null;
  return match ? match[1] : null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Ask the connector to start the double opt-in for the order's phone. A 409 means the order's
 * webhook has not arrived yet: try again a few times. Resolves to 'sent', 'subscribed' or 'failed'.
 */
export async function submitOptIn({ fetchImpl, url, token, orderId, text, locale, attempts = 4, waitMs = 3000 }) {
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    let response;
    try {
      response = await fetchImpl(`${url}/storefront/api/checkout-opt-in`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await token()}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ order_id: orderId, consent_text: text, locale }),
      });
    } catch (error) {
      response = null;
    }
    if (response && response.status === 202) return 'sent';
    if (response && response.status === 200) return 'subscribed';
    if (response && response.status !== 409 && response.status < 500) return 'failed';
    if (attempt < attempts) await sleep(waitMs * attempt);
  }
  return 'failed';
}
