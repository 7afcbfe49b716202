'use strict';

// The npm package wechat-api, unchanged, against wxtoken's front door: the
// one setting changed is the API host the SDK builds its URLs on.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { promisify } = require('node:util');
const WechatAPI = require('wechat-api');
const { start } = require('../lib/stack');

let stack;

before(async () => {
  stack = await start();
});

after(async () => {
  if (!stack) return;
  const logs = stack.logs();
  await stack.stop();
  assert.ok(!logs.includes(stack.secret), 'the wxtoken log holds the AppSecret');
  assert.ok(!logs.includes(stack.key), 'the wxtoken log holds the client key');
  assert.ok(!logs.includes(stack.shopKey), 'the wxtoken log holds the business server\'s client key');
});

// newSDK is a wechat-api client with its own in-memory token store, as
// each business server has, configured with the app's AppSecret or what
// stands in for it. setEndpoint() takes a host and forces https,
// so the property it sets is assigned directly to reach an http wxtoken.
function newSDK(secret = stack.secret) {
  const api = new WechatAPI(stack.appid, secret);
  api.endpoint = stack.base;
  return {
    api,
    latestToken: promisify(api.getLatestToken.bind(api)),
    getTicket: promisify(api.getTicket.bind(api)),
    getJsConfig: promisify(api.getJsConfig.bind(api)),
    getIp: promisify(api.getIp.bind(api)),
    createMenu: promisify(api.createMenu.bind(api)),
    getMenu: promisify(api.getMenu.bind(api)),
  };
}

async function calls(endpoint) {
  return (await stack.sim(`/_sim/calls?endpoint=${endpoint}`)).count;
}

const menu = { button: [{ type: 'click', name: 'Today', key: 'V1001_TODAY' }] };

test('token, jsapi ticket and a JS-SDK signature that verifies, all from the cache', async () => {
  const want = (await stack.api(`/v1/apps/${stack.appid}/access_token`)).access_token;
  const ticket = (await stack.api(`/v1/apps/${stack.appid}/tickets/jsapi`)).ticket;
  const tokenCalls = (await calls('token')) + (await calls('stable_token'));
  const ticketCalls = await calls('getticket');

  const sdk = newSDK();
  const token = await sdk.latestToken();
  assert.equal(token.accessToken, want, 'the SDK got another token than wxtoken hands out');

  const got = await sdk.getTicket('jsapi');
  assert.equal(got.ticket, ticket);

  const url = 'https://shop.example.com/pay?order=42&from=app';
  const cfg = await sdk.getJsConfig({ debug: false, jsApiList: ['chooseWXPay'], url });
  const signed = `jsapi_ticket=${ticket}&noncestr=${cfg.nonceStr}&timestamp=${cfg.timestamp}&url=${url}`;
  assert.equal(cfg.appId, stack.appid);
  assert.equal(cfg.signature, crypto.createHash('sha1').update(signed).digest('hex'), 'the signature does not verify');
  const check = await stack.sim(`/_sim/check?value=${encodeURIComponent(ticket)}`);
  assert.ok(check.valid, 'the ticket is not valid at WeChat');

  assert.equal((await calls('token')) + (await calls('stable_token')), tokenCalls, 'the SDK caused token calls at WeChat');
  assert.equal(await calls('getticket'), ticketCalls, 'the SDK caused getticket calls at WeChat');
});

test('ordinary API calls go through the relay', async () => {
  const sdk = newSDK();
  const before = await calls('api');
  const ip = await sdk.getIp();
  assert.ok(Array.isArray(ip.ip_list) && ip.ip_list.length > 0, `getIp: ${JSON.stringify(ip)}`);
  const created = await sdk.createMenu(menu);
  assert.equal(created.errcode, 0);
  await sdk.getMenu();
  assert.equal(await calls('api'), before + 3);
});

test('a call answered 40001 at WeChat is healed by wxtoken', async () => {
  const sdk = newSDK();
  const old = (await sdk.latestToken()).accessToken;
  // Out of band, the token dies at once.
  const rotated = await stack.sim('/_sim/rotate', { appid: stack.appid, what: 'stable' });
  assert.ok(rotated.value);
  const before = await calls('api');

  const created = await sdk.createMenu(menu);
  assert.equal(created.errcode, 0, 'the SDK saw the rejection');
  assert.equal(await calls('api'), before + 2, 'want the call answered 40001 and one retry, no more');

  const cur = (await stack.api(`/v1/apps/${stack.appid}/access_token`)).access_token;
  assert.notEqual(cur, old, 'wxtoken did not replace the rejected token');
  const check = await stack.sim(`/_sim/check?value=${encodeURIComponent(cur)}`);
  assert.ok(check.valid, 'the new token is not valid at WeChat');

  // The SDK still holds the old token; the relay swaps it.
  assert.equal((await sdk.latestToken()).accessToken, old);
  const ip = await sdk.getIp();
  assert.ok(ip.ip_list.length > 0);
});

// Last: it restarts wxtoken.
test('an SDK holding a client key instead of the AppSecret, until the key is revoked', async () => {
  const want = (await stack.api(`/v1/apps/${stack.appid}/access_token`)).access_token;
  const ticket = (await stack.api(`/v1/apps/${stack.appid}/tickets/jsapi`)).ticket;
  const tokenCalls = (await calls('token')) + (await calls('stable_token'));

  const sdk = newSDK(stack.shopKey);
  assert.equal((await sdk.latestToken()).accessToken, want, 'the SDK with the key got another token');
  assert.equal((await sdk.getTicket('jsapi')).ticket, ticket);
  const url = 'https://shop.example.com/login?next=%2Fcart';
  const cfg = await sdk.getJsConfig({ debug: false, jsApiList: ['scanQRCode'], url });
  const signed = `jsapi_ticket=${ticket}&noncestr=${cfg.nonceStr}&timestamp=${cfg.timestamp}&url=${url}`;
  assert.equal(cfg.signature, crypto.createHash('sha1').update(signed).digest('hex'), 'the signature does not verify');
  const ip = await sdk.getIp();
  assert.ok(ip.ip_list.length > 0);
  assert.equal((await calls('token')) + (await calls('stable_token')), tokenCalls, 'the SDK caused token calls at WeChat');

  // Revoke: the key leaves the config, and wxtoken restarts.
  await stack.restart({ withShopKey: false });
  const before = await calls('');
  await assert.rejects(newSDK(stack.shopKey).latestToken(), (err) => err.code === 40125,
    'want the revoked key refused as a wrong AppSecret');
  assert.equal(await calls(''), before, 'the revoked key caused calls at WeChat');
  // The AppSecret still works, from the store.
  assert.equal((await newSDK().latestToken()).accessToken, want);
});
