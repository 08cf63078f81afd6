"""Constants of the WhatsApp Cloud API adapter: the pinned Graph version, header names.

The Graph API version is pinned here and nowhere else; every URL is built from it.
https://developers.facebook.com/docs/graph-api/guides/versioning
"""

GRAPH_API_VERSION = "v25.0"
DEFAULT_BASE_URL = "https://graph.facebook.com"

#: where a number's messages are POSTed: ``/{phone_number_id}/messages`` (Cloud API), and, for
#: MARKETING templates of a number onboarded to the Marketing Messages API, its own endpoint,
#: which takes the same body and answers the same way; the statuses arrive as the same webhooks.
#: Anything but a marketing template is refused there.
#: https://developers.facebook.com/documentation/business-messaging/whatsapp/marketing-messages/send-marketing-messages
MESSAGES_ENDPOINT = "messages"
MARKETING_MESSAGES_ENDPOINT = "marketing_messages"

#: header carrying ``sha256=<hex HMAC-SHA256(app secret, raw body)>`` on every webhook POST
SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="

#: query parameters of the GET verification handshake
HUB_MODE = "hub.mode"
HUB_VERIFY_TOKEN = "hub.verify_token"
HUB_CHALLENGE = "hub.challenge"

WEBHOOK_OBJECT = "whatsapp_business_account"

#: delivery statuses in the order they are reached; ``failed`` stands apart
STATUS_SENT = "sent"
STATUS_DELIVERED = "delivered"
STATUS_READ = "read"
STATUS_FAILED = "failed"
STATUS_PLAYED = "played"
