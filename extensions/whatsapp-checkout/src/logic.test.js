import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ATTRIBUTE_CONSENT_TEXT, ATTRIBUTE_OPT_IN, CONSENT_TEXTS, attributeChanges, consentText, orderIdOf, submitOptIn }
  from './logic.js';

test('the consent text is the merchant\'s own, else ours in the buyer\'s language', () => {
  assert.equal(consentText('de-DE'), CONSENT_TEXTS.de);
  assert.equal(consentText('pt_BR'), CONSENT_TEXTS.pt);
  assert.equal(consentText('ja'), CONSENT_TEXTS.en);
  assert.equal(consentText(undefined), CONSENT_TEXTS.en);
  assert.equal(consentText('de', '  Ja, schickt mir Angebote per WhatsApp. '), 'Ja, schickt mir Angebote per WhatsApp.');
  assert.equal(consentText('de', 'short'), CONSENT_TEXTS.de);
  assert.equal(Object.keys(CONSENT_TEXTS).length, 7);
});

test('the box becomes two cart attributes, and unticking clears the text', () => {
  assert.deepEqual(attributeChanges(true, 'T'), [
    { type: 'updateAttribute', key: ATTRIBUTE_OPT_IN, value: 'yes' },
    { type: 'updateAttribute', key: ATTRIBUTE_CONSENT_TEXT, value: 'T' },
  ]);
  assert.deepEqual(attributeChanges(false, 'T').map((change) => change.value), ['no', '']);
});

test('the order id is the number of the OrderIdentity gid', () => {
  assert.equal(orderIdOf({ order: { id: 'gid://shopify/OrderIdentity/5678901234' } }), '5678901234');
  assert.equal(orderIdOf({ order: {} }), null);
  assert.equal(orderIdOf(undefined), null);
});

function answers(...statuses) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, init });
    const status = statuses.shift();
    if (status === 'network') throw new Error('offline');
    return { status };
  };
  return { calls, fetchImpl };
}

test('the opt-in waits for the order\'s webhook (409) and then succeeds', async () => {
  const { calls, fetchImpl } = answers(409, 'network', 202);
  const result = await submitOptIn({ fetchImpl, url: 'https://c.example', token: async () => 'tok', orderId: '12',
    text: 'T', locale: 'de', waitMs: 1 });
  assert.equal(result, 'sent');
  assert.equal(calls.length, 3);
  assert.equal(calls[0].url, 'https://c.example/storefront/api/checkout-opt-in');
  assert.equal(calls[0].init.headers.Authorization, 'Bearer tok');
  assert.deepEqual(JSON.parse(calls[0].init.body), { order_id: '12', consent_text: 'T', locale: 'de' });
});

test('a refusal is final, an answer of subscribed is success, and retries end', async () => {
  assert.equal(await submitOptIn({ ...answers(401), url: 'u', token: async () => 't', orderId: '1', text: 'T',
    waitMs: 1 }), 'failed');
  assert.equal(await submitOptIn({ ...answers(200), url: 'u', token: async () => 't', orderId: '1', text: 'T',
    waitMs: 1 }), 'subscribed');
  const many = answers(409, 409, 409, 409, 202);
  assert.equal(await submitOptIn({ ...many, url: 'u', token: async () => 't', orderId: '1', text: 'T', waitMs: 1 }),
    'failed');
  assert.equal(many.calls.length, 4);
});
