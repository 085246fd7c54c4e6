// Checks the local OpenID providers on their own, without Rollcall: starts issuers.mjs, then for
// each provider runs the authorization-code flow with PKCE in Chromium as Rollcall would (a
// stand-in for Rollcall listens on 127.0.0.1:${E2E_PORT} and records each callback: so Rollcall
// must not be running),
// redeems the code with client_secret_post, verifies the ID token's signature against the JWKS,
// and checks its claims against personas.mjs. Also checks the Cancel link and a second sign-in.
//
//   cd end2end && node oidc/selfcheck.mjs           (prints every ID token; exits 1 on a failure)
import { spawn } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';
import {
  googleHd,
  googleSubject,
  microsoftObjectId,
  microsoftSubject,
  microsoftTenant,
  MICROSOFT_CONSUMER_TENANT,
  MICROSOFT_TENANT,
  slackTeamId,
  slackUserId,
} from './personas.mjs';

const rollcall = `http://127.0.0.1:${process.env.E2E_PORT ?? 3210}`;
const google = `http://127.0.0.1:${process.env.E2E_GOOGLE_PORT ?? 3301}`;
const microsoft = `http://127.0.0.1:${process.env.E2E_MICROSOFT_PORT ?? 3302}`;
const slack = `http://127.0.0.1:${process.env.E2E_SLACK_PORT ?? 3303}`;
const discovery = {
  google: `${google}/.well-known/openid-configuration`,
  microsoft: `${microsoft}/organizations/v2.0/.well-known/openid-configuration`,
  slack: `${slack}/.well-known/openid-configuration`,
};

let passed = 0;
let failed = 0;
function check(what, ok, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok || !detail ? '' : `: ${detail}`}`);
}

// The stand-in for Rollcall: records the URL of every callback, by state.
const callbacks = new Map();
const client = createServer((req, res) => {
  const url = new URL(req.url, rollcall);
  callbacks.set(url.searchParams.get('state'), url);
  res.writeHead(200, { 'content-type': 'text/plain' }).end('callback reached');
});
client.listen(Number(new URL(rollcall).port), '127.0.0.1');
await once(client, 'listening');

const issuers = spawn(process.execPath, [new URL('./issuers.mjs', import.meta.url).pathname], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
process.on('exit', () => issuers.kill('SIGTERM'));
await once(issuers.stdout, 'data');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});

const b64url = (buffer) => Buffer.from(buffer).toString('base64url');
const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());

/** Starts a flow in `page`; resolves with what the provider sent back to the callback. */
async function authorize(page, provider, config, act) {
  const state = b64url(randomBytes(16));
  const nonce = b64url(randomBytes(16));
  const verifier = b64url(randomBytes(32));
  const url = new URL(config.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: `rollcall-${provider}`,
    redirect_uri: `${rollcall}/auth/${provider}/callback`,
    response_type: 'code',
    scope: 'openid email profile',
    state,
    nonce,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    ...(provider === 'google' ? { prompt: 'select_account' } : {}),
  });
  await page.goto(url.href);
  await act(page);
  await page.waitForURL((u) => u.origin === rollcall, { waitUntil: 'commit' });
  return { callback: callbacks.get(state), state, nonce, verifier };
}

async function signIn(page, email) {
  await page.locator('input[name="login"]').fill(email);
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function redeem(provider, config, { callback, verifier }) {
  const response = await fetch(config.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code'),
      redirect_uri: `${rollcall}/auth/${provider}/callback`,
      client_id: `rollcall-${provider}`,
      client_secret: `e2e-${provider}-secret`,
      code_verifier: verifier,
    }),
  });
  return { status: response.status, body: await response.json() };
}

async function verified(idToken, config) {
  const [h, p, s] = idToken.split('.');
  const header = decode(h);
  const { keys } = await (await fetch(config.jwks_uri)).json();
  const jwk = keys.find((key) => key.kid === header.kid);
  const ok = !!jwk && verify('RSA-SHA256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
  return { header, claims: decode(p), ok };
}

const configs = {};
for (const [provider, url] of Object.entries(discovery)) configs[provider] = await (await fetch(url)).json();
check('microsoft organizations discovery issuer is the template', configs.microsoft.issuer === `${microsoft}/{tenantid}/v2.0`, configs.microsoft.issuer);
check('google discovery issuer', configs.google.issuer === google);
check('slack discovery issuer', configs.slack.issuer === slack);
for (const [provider, config] of Object.entries(configs)) {
  check(`${provider} supports S256 only`, JSON.stringify(config.code_challenge_methods_supported) === '["S256"]');
}

const cases = [
  { provider: 'google', email: 'ada.x1y2@acme-xyz.test' },
  { provider: 'google', email: 'bob.k9@personal.test' },
  { provider: 'google', email: 'carol.lee.7f@gmail.test' },
  { provider: 'google', email: 'unverified.dan.3c@acme-xyz.test' },
  { provider: 'microsoft', email: 'ada.x1y2@acme.test' },
  { provider: 'microsoft', email: 'eve.5a@outlook.test' },
  { provider: 'microsoft', email: 'unverified.frank.1@acme.test' },
  { provider: 'slack', email: 'ada.lovelace.x1y2@acme.test' },
  { provider: 'slack', email: 'unverified.gus@acme.test' },
];

for (const { provider, email } of cases) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const config = configs[provider];
  const flow = await authorize(page, provider, config, (p) => signIn(p, email));
  const what = `${provider} ${email}`;
  check(`${what}: code and state come back`, !!flow.callback.searchParams.get('code') && flow.callback.searchParams.get('state') === flow.state, flow.callback.href);
  if (provider === 'microsoft') check(`${what}: no iss in the redirect`, !flow.callback.searchParams.has('iss'));
  else check(`${what}: iss in the redirect`, flow.callback.searchParams.get('iss') === config.issuer);
  const { status, body } = await redeem(provider, config, flow);
  check(`${what}: token endpoint 200`, status === 200, JSON.stringify(body));
  const { header, claims, ok } = await verified(body.id_token, config);
  console.log(`\n${what}\n  token response keys: ${Object.keys(body).join(', ')}\n  header: ${JSON.stringify(header)}\n  claims: ${JSON.stringify(claims, null, 2).replace(/\n/g, '\n  ')}\n`);
  check(`${what}: signature verifies with the JWKS key ${header.kid}`, ok && header.alg === 'RS256' && !!header.kid);
  check(`${what}: nonce echoed`, claims.nonce === flow.nonce);
  check(`${what}: aud`, claims.aud === `rollcall-${provider}`);
  check(`${what}: email`, claims.email === email);
  check(`${what}: name`, typeof claims.name === 'string' && claims.name.length > 0);
  const verifiedEmail = !email.startsWith('unverified');
  if (provider === 'google') {
    check(`${what}: iss`, claims.iss === google);
    check(`${what}: sub`, claims.sub === googleSubject(email) && /^1\d{20}$/.test(claims.sub), claims.sub);
    check(`${what}: hd`, claims.hd === googleHd(email) && ('hd' in claims) === email.endsWith('@acme-xyz.test'), String(claims.hd));
    check(`${what}: email_verified`, claims.email_verified === verifiedEmail);
  } else if (provider === 'microsoft') {
    const tid = microsoftTenant(email);
    check(`${what}: tid`, claims.tid === tid && tid === (email.endsWith('@outlook.test') ? MICROSOFT_CONSUMER_TENANT : MICROSOFT_TENANT));
    check(`${what}: iss is the tenant's`, claims.iss === `${microsoft}/${tid}/v2.0`, claims.iss);
    check(`${what}: oid`, claims.oid === microsoftObjectId(email));
    check(`${what}: sub differs from oid`, claims.sub === microsoftSubject(email) && claims.sub !== claims.oid);
    check(`${what}: preferred_username, ver`, claims.preferred_username === email && claims.ver === '2.0');
    check(`${what}: xms_edov`, verifiedEmail ? claims.xms_edov === true : !('xms_edov' in claims));
  } else {
    check(`${what}: iss`, claims.iss === slack);
    check(`${what}: sub and user_id`, claims.sub === slackUserId(email) && claims['https://slack.com/user_id'] === claims.sub);
    check(`${what}: team_id`, claims['https://slack.com/team_id'] === slackTeamId(email));
    check(`${what}: email_verified`, claims.email_verified === verifiedEmail);
    check(`${what}: ok: true in the token response`, body.ok === true);
  }
  const reuse = await redeem(provider, config, flow);
  check(`${what}: a code redeems once`, reuse.status === 400 && reuse.body.error === 'invalid_grant');
  await context.close();
}

// A second sign-in in the same browser meets the form again, and can be someone else.
{
  const context = await browser.newContext();
  const page = await context.newPage();
  const first = await authorize(page, 'google', configs.google, (p) => signIn(p, 'first.a1@acme.test'));
  const second = await authorize(page, 'google', configs.google, (p) => signIn(p, 'second.b2@acme.test'));
  const claims1 = decode((await redeem('google', configs.google, first)).body.id_token.split('.')[1]);
  const claims2 = decode((await redeem('google', configs.google, second)).body.id_token.split('.')[1]);
  check('second sign-in in one browser shows the form and switches account', claims1.email === 'first.a1@acme.test' && claims2.email === 'second.b2@acme.test');
  const cookies = (await context.cookies()).map((c) => `${c.name}@${c.domain}${c.path}`);
  console.log(`  provider cookies left in the browser: ${cookies.join(', ')}`);
  check('cookie names are per provider', cookies.every((c) => c.startsWith('op_google_')));
  await context.close();
}

// Without the code_verifier the code is refused; without PKCE the request is refused.
{
  const context = await browser.newContext();
  const page = await context.newPage();
  const flow = await authorize(page, 'slack', configs.slack, (p) => signIn(p, 'pkce.z9@acme.test'));
  const { status, body } = await redeem('slack', configs.slack, { ...flow, verifier: b64url(randomBytes(32)) });
  check('wrong code_verifier: invalid_grant', status === 400 && body.error === 'invalid_grant', JSON.stringify(body));
  await context.close();
  const url = new URL(configs.google.authorization_endpoint);
  url.search = new URLSearchParams({ client_id: 'rollcall-google', redirect_uri: `${rollcall}/auth/google/callback`, response_type: 'code', scope: 'openid', state: 's1' });
  const response = await fetch(url, { redirect: 'manual' });
  const location = new URL(response.headers.get('location'));
  check('no code_challenge: invalid_request back to the client', location.searchParams.get('error') === 'invalid_request' && location.searchParams.get('state') === 's1', location.href);
}

// Cancel: back to the client with error=access_denied and the state.
for (const provider of Object.keys(configs)) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const flow = await authorize(page, provider, configs[provider], (p) => p.getByRole('link', { name: 'Cancel' }).click());
  console.log(`  ${provider} cancel -> ${flow.callback.href}`);
  check(`${provider} cancel: error=access_denied with the state`, flow.callback.searchParams.get('error') === 'access_denied' && flow.callback.searchParams.get('state') === flow.state);
  await context.close();
}

await browser.close();
issuers.kill('SIGTERM');
client.close();
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
