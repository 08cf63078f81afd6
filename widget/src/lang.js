// The shopper's language and the chat button's strings (the rest are in ui-strings.js, loaded
// with the popup). The seven languages of the catalogue.
export const LANGUAGES = ["en", "de", "es", "fr", "it", "pt", "nl"];

/** The page's language (data-locale, <html lang>), else the browser's, else the shop's; English otherwise. */
export function language(config, settings) {
  const candidates = [config.locale, navigator.language, settings && settings.locale];
  for (const candidate of candidates) {
    const code = (candidate || "").slice(0, 2).toLowerCase();
    if (LANGUAGES.includes(code)) return code;
  }
  return "en";
}

const CHAT = {
  en: ["Chat with us on WhatsApp", "Hello! I have a question.", "Hello! I have a question about {product}: {url}",
    "Hello! I have a question about my cart: {cart}", "Online now", "Closed now, we reply when we are back"],
  de: ["Chatte mit uns auf WhatsApp", "Hallo! Ich habe eine Frage.", "Hallo! Ich habe eine Frage zu {product}: {url}",
    "Hallo! Ich habe eine Frage zu meinem Warenkorb: {cart}", "Jetzt online", "Gerade geschlossen, wir antworten, sobald wir zurück sind"],
  es: ["Chatea con nosotros en WhatsApp", "¡Hola! Tengo una pregunta.", "¡Hola! Tengo una pregunta sobre {product}: {url}",
    "¡Hola! Tengo una pregunta sobre mi carrito: {cart}", "En línea", "Cerrado ahora, respondemos al volver"],
  fr: ["Discutez avec nous sur WhatsApp", "Bonjour ! J'ai une question.", "Bonjour ! J'ai une question sur {product} : {url}",
    "Bonjour ! J'ai une question sur mon panier : {cart}", "En ligne", "Fermé pour le moment, nous répondrons à notre retour"],
  it: ["Chatta con noi su WhatsApp", "Ciao! Ho una domanda.", "Ciao! Ho una domanda su {product}: {url}",
    "Ciao! Ho una domanda sul mio carrello: {cart}", "Online ora", "Chiuso ora, rispondiamo al nostro ritorno"],
  pt: ["Fale connosco no WhatsApp", "Olá! Tenho uma pergunta.", "Olá! Tenho uma pergunta sobre {product}: {url}",
    "Olá! Tenho uma pergunta sobre o meu carrinho: {cart}", "Online agora", "Fechado agora, respondemos quando voltarmos"],
  nl: ["Chat met ons op WhatsApp", "Hallo! Ik heb een vraag.", "Hallo! Ik heb een vraag over {product}: {url}",
    "Hallo! Ik heb een vraag over mijn winkelwagen: {cart}", "Nu online", "Nu gesloten, we antwoorden zodra we terug zijn"],
};

export function chatStrings(lang) {
  const [chat, greeting, product, cart, open, closed] = CHAT[lang] || CHAT.en;
  return { chat, greeting, product, cart, open, closed };
}
