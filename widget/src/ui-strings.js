// The popup's, notify-me's and the inline opt-in's strings in the seven catalogue languages.
// consent and notifyConsent are the built-in texts used when the shop set none for a language;
// the text shown is sent with the request, so the consent ledger keeps exactly what was read.
const KEYS = ["titleNone", "titlePercent", "titleCode", "intro", "country", "phone", "submit", "close", "consent",
  "invalid", "landline", "rate", "error", "done", "already", "notifyTitle", "notifySubmit", "notifyConsent",
  "notifyDone", "sending", "inlineTitle"];

const TABLE = {
  en: ["Stay in touch on WhatsApp", "{percent}% off your next order", "A discount code for you",
    "Subscribe on WhatsApp for offers and news.", "Country", "WhatsApp number", "Subscribe", "Close",
    "Yes, send me offers and news on WhatsApp. I can unsubscribe at any time by replying STOP.",
    "Please enter a valid mobile number.", "This number cannot receive WhatsApp messages. Please enter a mobile number.",
    "Too many attempts. Please try again later.", "Something went wrong. Please try again.",
    "Check WhatsApp: we have sent you a message. Reply YES to confirm.", "You are already subscribed. Thank you!",
    "Sold out? We will tell you on WhatsApp when it is back.", "Notify me on WhatsApp",
    "Notify me on WhatsApp when this product is back in stock.",
    "Done! We will message you on WhatsApp when it is back in stock.", "Sending…", "News and offers on WhatsApp"],
  de: ["Bleib per WhatsApp auf dem Laufenden", "{percent} % Rabatt auf deine nächste Bestellung", "Ein Rabattcode für dich",
    "Abonniere Angebote und Neuigkeiten per WhatsApp.", "Land", "WhatsApp-Nummer", "Abonnieren", "Schließen",
    "Ja, schickt mir Angebote und Neuigkeiten per WhatsApp. Ich kann mich jederzeit mit der Antwort STOP abmelden.",
    "Bitte gib eine gültige Handynummer ein.", "Diese Nummer kann keine WhatsApp-Nachrichten empfangen (Festnetz). Bitte gib eine Handynummer ein.",
    "Zu viele Versuche. Bitte versuche es später noch einmal.", "Etwas ist schiefgelaufen. Bitte versuche es noch einmal.",
    "Schau in WhatsApp: Wir haben dir eine Nachricht geschickt. Antworte JA zur Bestätigung.", "Du bist bereits angemeldet. Danke!",
    "Ausverkauft? Wir sagen dir per WhatsApp Bescheid, sobald es wieder da ist.", "Per WhatsApp benachrichtigen",
    "Benachrichtigt mich per WhatsApp, wenn dieses Produkt wieder verfügbar ist.",
    "Erledigt! Wir schreiben dir per WhatsApp, sobald es wieder verfügbar ist.", "Wird gesendet…", "Neuigkeiten und Angebote per WhatsApp"],
  es: ["Mantente en contacto por WhatsApp", "{percent} % de descuento en tu próximo pedido", "Un código de descuento para ti",
    "Suscríbete en WhatsApp para recibir ofertas y novedades.", "País", "Número de WhatsApp", "Suscribirme", "Cerrar",
    "Sí, enviadme ofertas y novedades por WhatsApp. Puedo darme de baja en cualquier momento respondiendo STOP.",
    "Introduce un número de móvil válido.", "Este número no puede recibir mensajes de WhatsApp (fijo). Introduce un número de móvil.",
    "Demasiados intentos. Inténtalo de nuevo más tarde.", "Algo ha ido mal. Inténtalo de nuevo.",
    "Revisa WhatsApp: te hemos enviado un mensaje. Responde SÍ para confirmar.", "Ya estás suscrito. ¡Gracias!",
    "¿Agotado? Te avisaremos por WhatsApp cuando vuelva.", "Avisarme por WhatsApp",
    "Avisadme por WhatsApp cuando este producto vuelva a estar disponible.",
    "¡Listo! Te escribiremos por WhatsApp cuando vuelva a estar disponible.", "Enviando…", "Novedades y ofertas por WhatsApp"],
  fr: ["Restez en contact sur WhatsApp", "{percent} % de réduction sur votre prochaine commande", "Un code de réduction pour vous",
    "Abonnez-vous sur WhatsApp pour recevoir offres et nouveautés.", "Pays", "Numéro WhatsApp", "S'abonner", "Fermer",
    "Oui, envoyez-moi des offres et des nouveautés sur WhatsApp. Je peux me désabonner à tout moment en répondant STOP.",
    "Veuillez saisir un numéro de mobile valide.", "Ce numéro ne peut pas recevoir de messages WhatsApp (fixe). Veuillez saisir un numéro de mobile.",
    "Trop de tentatives. Veuillez réessayer plus tard.", "Une erreur s'est produite. Veuillez réessayer.",
    "Regardez WhatsApp : nous vous avons envoyé un message. Répondez OUI pour confirmer.", "Vous êtes déjà abonné. Merci !",
    "Épuisé ? Nous vous préviendrons sur WhatsApp dès son retour.", "Me prévenir sur WhatsApp",
    "Prévenez-moi sur WhatsApp quand ce produit sera de nouveau disponible.",
    "C'est noté ! Nous vous écrirons sur WhatsApp dès son retour en stock.", "Envoi…", "Nouveautés et offres sur WhatsApp"],
  it: ["Resta in contatto su WhatsApp", "{percent}% di sconto sul tuo prossimo ordine", "Un codice sconto per te",
    "Iscriviti su WhatsApp per offerte e novità.", "Paese", "Numero WhatsApp", "Iscriviti", "Chiudi",
    "Sì, inviatemi offerte e novità su WhatsApp. Posso annullare l'iscrizione in qualsiasi momento rispondendo STOP.",
    "Inserisci un numero di cellulare valido.", "Questo numero non può ricevere messaggi WhatsApp (fisso). Inserisci un numero di cellulare.",
    "Troppi tentativi. Riprova più tardi.", "Qualcosa è andato storto. Riprova.",
    "Controlla WhatsApp: ti abbiamo inviato un messaggio. Rispondi SÌ per confermare.", "Sei già iscritto. Grazie!",
    "Esaurito? Ti avviseremo su WhatsApp quando torna disponibile.", "Avvisami su WhatsApp",
    "Avvisatemi su WhatsApp quando questo prodotto torna disponibile.",
    "Fatto! Ti scriveremo su WhatsApp quando tornerà disponibile.", "Invio…", "Novità e offerte su WhatsApp"],
  pt: ["Fique em contacto pelo WhatsApp", "{percent}% de desconto na sua próxima encomenda", "Um código de desconto para si",
    "Subscreva no WhatsApp para receber ofertas e novidades.", "País", "Número de WhatsApp", "Subscrever", "Fechar",
    "Sim, enviem-me ofertas e novidades pelo WhatsApp. Posso cancelar a qualquer momento respondendo STOP.",
    "Introduza um número de telemóvel válido.", "Este número não pode receber mensagens de WhatsApp (fixo). Introduza um número de telemóvel.",
    "Demasiadas tentativas. Tente novamente mais tarde.", "Algo correu mal. Tente novamente.",
    "Veja o WhatsApp: enviámos-lhe uma mensagem. Responda SIM para confirmar.", "Já está subscrito. Obrigado!",
    "Esgotado? Avisamos pelo WhatsApp quando voltar.", "Avisar-me pelo WhatsApp",
    "Avisem-me pelo WhatsApp quando este produto voltar a estar disponível.",
    "Feito! Escrevemos-lhe pelo WhatsApp quando voltar a estar disponível.", "A enviar…", "Novidades e ofertas pelo WhatsApp"],
  nl: ["Blijf op de hoogte via WhatsApp", "{percent}% korting op je volgende bestelling", "Een kortingscode voor jou",
    "Abonneer je via WhatsApp op aanbiedingen en nieuws.", "Land", "WhatsApp-nummer", "Abonneren", "Sluiten",
    "Ja, stuur me aanbiedingen en nieuws via WhatsApp. Ik kan me altijd afmelden door STOP te antwoorden.",
    "Vul een geldig mobiel nummer in.", "Dit nummer kan geen WhatsApp-berichten ontvangen (vaste lijn). Vul een mobiel nummer in.",
    "Te veel pogingen. Probeer het later opnieuw.", "Er ging iets mis. Probeer het opnieuw.",
    "Kijk in WhatsApp: we hebben je een bericht gestuurd. Antwoord JA om te bevestigen.", "Je bent al aangemeld. Bedankt!",
    "Uitverkocht? We laten het je via WhatsApp weten zodra het terug is.", "Houd me op de hoogte via WhatsApp",
    "Laat het me via WhatsApp weten wanneer dit product weer op voorraad is.",
    "Gelukt! We sturen je een WhatsApp-bericht zodra het weer op voorraad is.", "Verzenden…", "Nieuws en aanbiedingen via WhatsApp"],
};

export function uiStrings(lang) {
  const row = TABLE[lang] || TABLE.en;
  const strings = {};
  KEYS.forEach((key, index) => {
    strings[key] = row[index];
  });
  return strings;
}

// countries offered in the phone field (ISO code, calling code); names come from Intl.DisplayNames
export const COUNTRIES = [["AT", "43"], ["BE", "32"], ["BR", "55"], ["CA", "1"], ["CH", "41"], ["CZ", "420"],
  ["DE", "49"], ["DK", "45"], ["ES", "34"], ["FI", "358"], ["FR", "33"], ["GB", "44"], ["GR", "30"], ["HU", "36"],
  ["IE", "353"], ["IN", "91"], ["IT", "39"], ["LU", "352"], ["MX", "52"], ["NL", "31"], ["NO", "47"], ["PL", "48"],
  ["PT", "351"], ["RO", "40"], ["SE", "46"], ["TR", "90"], ["US", "1"], ["AR", "54"], ["AU", "61"], ["CO", "57"],
  ["CL", "56"], ["ZA", "27"], ["AE", "971"], ["SA", "966"], ["ID", "62"], ["NG", "234"]];
