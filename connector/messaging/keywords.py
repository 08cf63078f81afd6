"""Opt-out and opt-in words shoppers type, in the languages the connector speaks.

A shopper who writes "STOP" (or "Stopp", "arrêt", "baja", ...) must stop receiving marketing
messages before the next send; "START" (and its equivalents) brings them back. Matching is
deliberately strict: the whole message, ignoring case, accents, surrounding spaces and
trailing punctuation, must be one of the words. "Stop sending me the wrong size" is a
conversation for the merchant, not an opt-out, while "STOP!" and " stop. " are opt-outs.

Meta's own block and "Stop promotions" controls arrive separately (``user_preferences``
webhooks and error 131050); these words cover what shoppers type themselves.
"""

from __future__ import annotations

import re
import unicodedata

OPT_OUT = "opt_out"
OPT_IN = "opt_in"
#: typed answers to a pending double opt-in question (only read while one is pending)
ANSWER_YES = "answer_yes"
ANSWER_NO = "answer_no"

#: words per intent; the language is not needed to act, only to answer (the contact's locale)
_WORDS: dict[str, tuple[str, ...]] = {
    OPT_OUT: (
        # en
        "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "opt out", "optout", "stop promotions",
        # de
        "stopp", "abmelden", "abbestellen", "austragen", "keine werbung",
        # fr
        "arret", "arrete", "arreter", "desabonner", "desinscrire", "se desabonner", "stop pub",
        # es
        "baja", "darse de baja", "cancelar", "parar", "alto", "no mas",
        # pt (pt_BR)
        "parar", "sair", "cancelar inscricao", "descadastrar",
        # it
        "annulla", "basta", "disiscrivi", "cancellami", "stop messaggi",
        # nl
        "uitschrijven", "afmelden", "stoppen",
    ),
    OPT_IN: (
        "start", "subscribe", "unstop", "resume",  # en
        "anmelden", "starten",  # de
        "demarrer", "reprendre",  # fr
        "alta", "comenzar", "reanudar",  # es
        "iniciar", "voltar", "reativar",  # pt
        "inizia", "riprendi", "iscrivi",  # it
        "aanmelden", "hervatten",  # nl
    ),
}

#: what a shopper types instead of tapping the confirmation's buttons: yes/no words and the
#: buttons' own titles in the catalogue's languages (templates/whatsapp/optin_confirmation.json)
_ANSWERS: dict[str, tuple[str, ...]] = {
    ANSWER_YES: (
        "yes", "y", "yes please", "yes subscribe", "yes i do", "yep", "yeah",  # en
        "ja", "ja bitte", "ja gerne", "ja anmelden", "jawohl",  # de (nl "ja" too)
        "si", "si por favor", "si suscribirme", "si quiero", "claro",  # es (it "si" too)
        "oui", "oui merci", "oui je m abonne", "oui je m'abonne",  # fr
        "si grazie", "si iscrivimi", "certo",  # it
        "ja graag", "ja aanmelden", "jazeker",  # nl
        "sim", "sim quero", "sim quero receber", "sim por favor",  # pt_BR
    ),
    ANSWER_NO: (
        "no", "n", "no thanks", "no thank you", "nope",  # en
        "nein", "nein danke",  # de
        "no gracias",  # es
        "non", "non merci",  # fr
        "no grazie",  # it
        "nee", "nee bedankt", "nee dank je",  # nl
        "nao", "nao obrigado", "nao obrigada", "agora nao",  # pt_BR
    ),
}

_NORMALISED: dict[str, str] = {}
_ANSWERS_NORMALISED: dict[str, str] = {}


def _normalise(text: str) -> str:
    """Lowercase, accents stripped, inner whitespace collapsed, edge punctuation dropped."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = re.sub(r"\s+", " ", plain).strip()
    return plain.strip(" .!¡?¿,;:-_*\"'()[]")


def _normalise_answer(text: str) -> str:
    """As ``_normalise``, and inner punctuation read as a space ("Ja, anmelden!" = "ja anmelden")."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", _normalise(text))).strip()


for _intent, _words in _WORDS.items():
    for _word in _words:
        _NORMALISED[_normalise(_word)] = _intent
for _answer, _words in _ANSWERS.items():
    for _word in _words:
        _ANSWERS_NORMALISED[_normalise_answer(_word)] = _answer


def intent_of(text: str | None) -> str | None:
    """``OPT_OUT``, ``OPT_IN`` or ``None`` for a shopper's whole message."""
    if not text or len(text) > 40:  # a keyword is a short message, never a paragraph
        return None
    return _NORMALISED.get(_normalise(text))


def answer_of(text: str | None) -> str | None:
    """``ANSWER_YES``, ``ANSWER_NO`` or ``None`` for a whole message typed as an answer to the
    double opt-in question ("JA", "Sí", "oui !", "ja graag")."""
    if not text or len(text) > 40:
        return None
    return _ANSWERS_NORMALISED.get(_normalise_answer(text))
