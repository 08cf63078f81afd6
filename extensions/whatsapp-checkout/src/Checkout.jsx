// The contact step (Shopify Plus): an optional, unticked box. Its state and the exact text
// shown go to the order as cart attributes; the connector starts the double opt-in from them.
import {
  Checkbox,
  reactExtension,
  useApplyAttributeChange,
  useAttributeValues,
  useInstructions,
  useLanguage,
  useSettings,
} from '@shopify/ui-extensions-react/checkout';

import { ATTRIBUTE_OPT_IN, attributeChanges, consentText } from './logic.js';

export default reactExtension('purchase.checkout.contact.render-after', () => <WhatsAppOptIn />);

function WhatsAppOptIn() {
  const applyAttributeChange = useApplyAttributeChange();
  const instructions = useInstructions();
  const language = useLanguage();
  const settings = useSettings();
  const [value] = useAttributeValues([ATTRIBUTE_OPT_IN]);
  const text = consentText(language.isoCode, settings.consent_text);

  if (!instructions.attributes.canUpdateAttributes) {
    return null; // e.g. a draft order's checkout: nothing could be kept
  }
  const onChange = async (checked) => {
    for (const change of attributeChanges(checked, text)) {
      await applyAttributeChange(change);
    }
  };
  return (
    <Checkbox id="whatsapp-opt-in" name="whatsapp-opt-in" checked={value === 'yes'} onChange={onChange}>
      {text}
    </Checkbox>
  );
}
