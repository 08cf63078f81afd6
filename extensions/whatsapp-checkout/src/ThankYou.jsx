// The thank-you page (every plan): the order is placed, so the box asks the connector,
// authenticated by the extension's session token, to start the double opt-in for its phone.
import { useState } from 'react';
import {
  Banner,
  BlockStack,
  Button,
  Checkbox,
  reactExtension,
  useApi,
  useLanguage,
  useSettings,
  useTranslate,
} from '@shopify/ui-extensions-react/checkout';

import { CONNECTOR_URL } from './config.js';
import { consentText, orderIdOf, submitOptIn } from './logic.js';

export default reactExtension('purchase.thank-you.block.render', () => <ThankYouOptIn />);

function ThankYouOptIn() {
  const { sessionToken, orderConfirmation } = useApi();
  const language = useLanguage();
  const settings = useSettings();
  const translate = useTranslate();
  const [checked, setChecked] = useState(false);
  const [state, setState] = useState('idle');
  const text = consentText(language.isoCode, settings.consent_text);
  const orderId = orderIdOf(orderConfirmation.current);

  if (!orderId) return null;
  if (state === 'sent' || state === 'subscribed') {
    return <Banner status="success">{translate(state === 'sent' ? 'checkWhatsApp' : 'alreadySubscribed')}</Banner>;
  }
  const submit = async () => {
    setState('sending');
    setState(await submitOptIn({ fetchImpl: fetch, url: CONNECTOR_URL, token: () => sessionToken.get(), orderId,
      text, locale: language.isoCode }));
  };
  return (
    <BlockStack>
      <Checkbox id="whatsapp-opt-in" name="whatsapp-opt-in" checked={checked} onChange={setChecked}>{text}</Checkbox>
      <Button disabled={!checked} loading={state === 'sending'} onPress={submit}>{translate('subscribe')}</Button>
      {state === 'failed' && <Banner status="critical">{translate('failed')}</Banner>}
    </BlockStack>
  );
}
