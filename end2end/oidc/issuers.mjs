// Three local OpenID providers for the end-to-end tests, built on oidc-provider (panva's OpenID
// Certified implementation), each shaped like the real one Rollcall signs people in with:
//
//   Google-like     http://127.0.0.1:3301   (E2E_GOOGLE_PORT)
//   Microsoft-like  http://127.0.0.1:3302   (E2E_MICROSOFT_PORT)  Entra ID multi-tenant, v2.0
//   Slack-like      http://127.0.0.1:3303   (E2E_SLACK_PORT)
//
// Playwright starts this (`node oidc/issuers.mjs`, from end2end/) before the Rollcall servers.
// Each provider has one confidential client, rollcall-<provider>, whose only redirect URI is
// http://127.0.0.1:${E2E_PORT}/auth/<provider>/callback.
//
// Signing in: every authorization request shows a sign-in form (a session the browser has at the
// provider is ignored), where any email address and any password sign in as that address; who that is
// (subject, tenant, team, name, verified or not) follows from the address alone: personas.mjs.
// Consent is given automatically (no consent page). Its "Cancel" link ends the request with
// error=access_denied. tests/provider.ts drives these pages.
//
// Everything lives in memory and is gone when the process stops.
import { AsyncLocalStorage } from 'node:async_hooks';
import { generateKeyPairSync } from 'node:crypto';
import { text } from 'node:stream/consumers';
import Provider from 'oidc-provider';
import {
  emailVerified,
  googleHd,
  googleSubject,
  microsoftObjectId,
  microsoftSubject,
  microsoftTenant,
  MICROSOFT_CONSUMER_TENANT,
  MICROSOFT_TENANT,
  personaNames,
  slackTeam,
  slackTeamId,
  slackUserId,
} from './personas.mjs';

const host = '127.0.0.1';
const rollcallPort = Number(process.env.E2E_PORT ?? 3210);
const rollcall = `http://${host}:${rollcallPort}`;
const ports = {
  google: Number(process.env.E2E_GOOGLE_PORT ?? 3301),
  microsoft: Number(process.env.E2E_MICROSOFT_PORT ?? 3302),
  slack: Number(process.env.E2E_SLACK_PORT ?? 3303),
};
const origin = (name) => `http://${host}:${ports[name]}`;

// --- Pages ------------------------------------------------------------------------------------

const escape = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, provider, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} – ${escape(provider)} (local test provider)</title>
<style>
  body { font-family: system-ui, sans-serif; background: #f3f4f6; color: #111827; margin: 0; }
  main { max-width: 22rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: .5rem;
         box-shadow: 0 1px 3px rgba(0,0,0,.2); }
  h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
  p { color: #4b5563; }
  label { display: block; margin: 1rem 0 .25rem; font-weight: 600; }
  input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem;
         border: 1px solid #9ca3af; border-radius: .25rem; }
  button { margin-top: 1.5rem; width: 100%; padding: .6rem; font-size: 1rem; color: #fff; background: #1d4ed8;
         border: 0; border-radius: .25rem; cursor: pointer; }
  .error { color: #b91c1c; }
  .cancel { display: block; margin-top: 1rem; text-align: center; color: #374151; }
</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

function loginPage(provider, uid, { clientId, loginHint, error }) {
  return page('Sign in', provider, `<h1>Sign in</h1>
<p>to continue to <b>${escape(clientId)}</b> at the ${escape(provider)}-like local test provider.
Any email address and any password will do.</p>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}" autocomplete="off">
<input type="hidden" name="prompt" value="login">
<label for="login">Email</label>
<input id="login" type="text" name="login" value="${escape(loginHint)}" autofocus required>
<label for="password">Password</label>
<input id="password" type="password" name="password">
<button type="submit">Sign in</button>
</form>
<a class="cancel" href="/interaction/${escape(uid)}/abort">Cancel</a>`);
}

function consentPage(provider, uid, { clientId, email }) {
  return page('Allow access', provider, `<h1>Allow access</h1>
<p><b>${escape(clientId)}</b> wants to know who <b>${escape(email)}</b> is.</p>
<form method="post" action="/interaction/${escape(uid)}">
<input type="hidden" name="prompt" value="consent">
<button type="submit">Continue</button>
</form>
<a class="cancel" href="/interaction/${escape(uid)}/abort">Cancel</a>`);
}

// --- One provider -----------------------------------------------------------------------------

// Consent is automatic: the grant covers whatever OpenID scopes the client asked for.
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (!grant || grant.accountId !== oidc.account.accountId) {
    grant = new oidc.provider.Grant({ accountId: oidc.account.accountId, clientId: oidc.client.clientId });
  }
  grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
  if (oidc.requestParamClaims?.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
  await grant.save();
  return grant;
}

/**
 * An oidc-provider storage adapter keeping one provider's state in a Map of its own (oidc-provider's
 * bundled memory adapter shares one size-capped LRU between all providers in the process).
 * Entries expire as oidc-provider asks; nothing outlives the process.
 */
function memoryAdapter() {
  const store = new Map();
  const now = () => Math.floor(Date.now() / 1000);
  const get = (key) => {
    const entry = store.get(key);
    if (entry && entry.expiresAt !== undefined && entry.expiresAt <= now()) {
      store.delete(key);
      return undefined;
    }
    return entry?.value;
  };
  const set = (key, value, expiresIn) => {
    store.set(key, { value, expiresAt: expiresIn ? now() + expiresIn : undefined });
  };
  const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
  return class MapAdapter {
    constructor(model) {
      this.model = model;
    }
    key(id) {
      return `${this.model}:${id}`;
    }
    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      if (this.model === 'Session') set(`sessionUid:${payload.uid}`, id, expiresIn);
      if (grantable.has(this.model) && payload.grantId) {
        const tokens = get(`grant:${payload.grantId}`) ?? [];
        tokens.push(key);
        set(`grant:${payload.grantId}`, tokens, 14 * 86400);
      }
      if (payload.userCode) set(`userCode:${payload.userCode}`, id, expiresIn);
      set(key, payload, expiresIn);
    }
    async find(id) {
      return get(this.key(id));
    }
    async findByUid(uid) {
      const id = get(`sessionUid:${uid}`);
      return id === undefined ? undefined : this.find(id);
    }
    async findByUserCode(userCode) {
      const id = get(`userCode:${userCode}`);
      return id === undefined ? undefined : this.find(id);
    }
    async consume(id) {
      const payload = get(this.key(id));
      if (payload) payload.consumed = now();
    }
    async destroy(id) {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId) {
      for (const key of get(`grant:${grantId}`) ?? []) store.delete(key);
      store.delete(`grant:${grantId}`);
    }
  };
}

/** An RSA signing key (RS256) with a `kid`, as a private JWK. */
function signingKey(kid) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

/**
 * A provider named `name` ("google"), shown to people as `label` ("Google").
 * - issuer: its Issuer Identifier (the Microsoft-like one overrides it per request, see below);
 * - routes: its endpoints' paths, like the real provider's;
 * - claims: which claims each scope releases, and `account(email)` the claims themselves;
 * - tweak: Koa middleware of its own, run around oidc-provider's.
 */
function makeProvider({ name, label, issuer, routes, claims, account, tweak }) {
  const clientId = `rollcall-${name}`;
  const redirectUri = `${rollcall}/auth/${name}/callback`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: `e2e-${name}-secret`,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
        id_token_signed_response_alg: 'RS256',
      },
    ],
    adapter: memoryAdapter(),
    jwks: { keys: [signingKey(`e2e-${name}-1`)] },
    routes,
    claims,
    // Scope claims go into the ID token itself: Rollcall reads the ID token, not userinfo.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    // Rollcall sends PKCE (S256) with every request; a request without it is refused.
    pkce: { methods: ['S256'], required: () => true },
    findAccount: (_ctx, email) => ({ accountId: email, claims: () => account(email) }),
    loadExistingGrant,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // The three providers share the host 127.0.0.1 (browsers share cookies across ports), so
    // each names its cookies after itself; Rollcall's start with `rollcall`.
    cookies: {
      names: { session: `op_${name}_session`, interaction: `op_${name}_interaction`, resume: `op_${name}_resume` },
      // Plain http: SameSite=None would need Secure, so Lax (the flows are all top-level navigations).
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
      keys: [`e2e-${name}-cookie-key`],
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      userinfo: { enabled: true },
    },
    ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 3600, Session: 86400, Grant: 86400 },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', label, `<h1>Something went wrong</h1>
<p class="error" role="alert"><b>${escape(out.error)}</b>: ${escape(out.error_description)}</p>`);
    },
  });

  // Errors go to stderr, which Playwright shows: an invalid_grant here explains a failed sign-in.
  // (A person's Cancel, access_denied, is no error of anyone's.)
  for (const event of ['authorization.error', 'grant.error', 'userinfo.error', 'server_error']) {
    provider.on(event, (_ctx, error) => {
      if (error.error === 'access_denied') return;
      console.error(`[oidc ${name}] ${event}: ${error.error ?? error.name}: ${error.error_description ?? error.message}`);
    });
  }

  if (tweak) provider.use(tweak);
  provider.use(freshSignIn(routes.authorization, `op_${name}_session`));
  provider.use(interactions(provider, label, clientId));
  return provider;
}

/** The sign-in (and, should it ever be needed, consent) pages at /interaction/:uid. */
function interactions(provider, label, clientId) {
  return async (ctx, next) => {
    const match = /^\/interaction\/([\w-]+)(\/abort)?$/.exec(ctx.path);
    if (!match) return next();
    const [, uid, abort] = match;
    ctx.set('Cache-Control', 'no-store');
    try {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      const finish = async (result, merge) => {
        const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
        ctx.status = 303;
        ctx.redirect(to);
      };
      if (abort && ctx.method === 'GET') {
        return await finish({ error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
      }
      const { prompt } = details;
      if (ctx.method === 'GET') {
        ctx.type = 'html';
        ctx.body =
          prompt.name === 'login'
            ? loginPage(label, uid, { clientId, loginHint: details.params.login_hint })
            : consentPage(label, uid, { clientId, email: details.session?.accountId });
        return;
      }
      if (ctx.method !== 'POST') ctx.throw(405);
      const form = new URLSearchParams(await text(ctx.req));
      if (form.get('prompt') === 'login' && prompt.name === 'login') {
        const email = (form.get('login') ?? '').trim();
        if (!/^[^@\s]+@[^@\s]+$/.test(email)) {
          ctx.status = 400;
          ctx.type = 'html';
          ctx.body = loginPage(label, uid, { clientId, loginHint: email, error: 'Enter an email address.' });
          return;
        }
        return await finish({ login: { accountId: email } }, false);
      }
      if (form.get('prompt') === 'consent' && prompt.name === 'consent') {
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
        if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
        return await finish({ consent: { grantId: await grant.save() } }, true);
      }
      ctx.throw(400, `unexpected submission for prompt ${prompt.name}`);
    } catch (error) {
      console.error(`[oidc ${label}] interaction ${uid}: ${error.message}`);
      ctx.status = error.status ?? error.statusCode ?? 500;
      ctx.type = 'html';
      ctx.body = page('Error', label, `<h1>Something went wrong</h1>
<p class="error" role="alert">${escape(error.error_description ?? error.message)}</p>`);
    }
  };
}

/**
 * Around each authorization request:
 * - every request signs in afresh: the browser's session cookie at this provider is not passed
 *   on to the authorization endpoint nor to its resumption after sign-in, so oidc-provider starts
 *   a new session and asks who is signing in, and a test can sign in as someone else each time
 *   (an earlier session is simply left to expire, and codes issued in it stay good);
 * - `prompt=select_account` (Google's and Microsoft's), which oidc-provider doesn't know, is
 *   dropped: the sign-in form is where an account is chosen, and it is always shown.
 */
function freshSignIn(authorizationPath, sessionCookie) {
  return async (ctx, next) => {
    if (ctx.path === authorizationPath || ctx.path.startsWith(`${authorizationPath}/`)) {
      const { cookie } = ctx.req.headers;
      if (cookie) {
        ctx.req.headers.cookie = cookie
          .split(/;\s*/)
          .filter((pair) => !pair.startsWith(`${sessionCookie}=`) && !pair.startsWith(`${sessionCookie}.`))
          .join('; ');
      }
      if (ctx.method === 'GET' && ctx.path === authorizationPath && ctx.query.prompt) {
        const query = new URLSearchParams(ctx.querystring);
        const prompts = query.get('prompt').split(' ').filter((p) => p && p !== 'select_account');
        if (prompts.length) query.set('prompt', prompts.join(' '));
        else query.delete('prompt');
        ctx.querystring = query.toString();
      }
    }
    return next();
  };
}

// --- Google-like ------------------------------------------------------------------------------

const googleRoutes = {
  authorization: '/o/oauth2/v2/auth',
  token: '/token',
  userinfo: '/v1/userinfo',
  jwks: '/oauth2/v3/certs',
};
const google = makeProvider({
  name: 'google',
  label: 'Google',
  issuer: origin('google'),
  routes: googleRoutes,
  claims: {
    openid: ['sub', 'hd'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  account: (email) => {
    const { name, given_name, family_name } = personaNames(email);
    return {
      sub: googleSubject(email),
      email,
      email_verified: emailVerified(email),
      name,
      given_name,
      family_name,
      hd: googleHd(email),
    };
  },
});

// --- Microsoft-like (Entra ID, multi-tenant v2.0 endpoints) -----------------------------------
//
// Like login.microsoftonline.com: /organizations/v2.0/.well-known/openid-configuration (and
// /common/…) has the issuer template http://127.0.0.1:3302/{tenantid}/v2.0; /<tenant id>/v2.0/…
// (and /consumers/…) has that tenant's issuer. An ID token's `iss` is its account's tenant's:
// http://127.0.0.1:3302/<tid>/v2.0. One oidc-provider instance serves every tenant: its issuer
// is read per request (AsyncLocalStorage), and is the account's tenant's once the account is known.
// Every discovery document lists the same endpoints, /organizations/oauth2/v2.0/…, which serve
// both tenants. Like Microsoft, the authorization response carries no `iss` parameter, and the
// JWKS keys carry `issuer` (the template).

const microsoftBase = origin('microsoft');
const tenantIssuer = (tid) => `${microsoftBase}/${tid}/v2.0`;
const microsoftTemplate = tenantIssuer('{tenantid}');
const microsoftRoutes = {
  authorization: '/organizations/oauth2/v2.0/authorize',
  token: '/organizations/oauth2/v2.0/token',
  jwks: '/organizations/discovery/v2.0/keys',
  userinfo: '/oidc/userinfo',
};
const microsoftRequest = new AsyncLocalStorage();
const discoveryPath = '/.well-known/openid-configuration';

const microsoft = makeProvider({
  name: 'microsoft',
  label: 'Microsoft',
  issuer: tenantIssuer('organizations'), // replaced by the getter below
  routes: microsoftRoutes,
  claims: {
    openid: ['sub', 'oid', 'tid', 'ver', 'xms_edov'],
    email: ['email'],
    profile: ['name', 'preferred_username'],
  },
  account: (email) => {
    const tid = microsoftTenant(email);
    const request = microsoftRequest.getStore();
    if (request) request.issuer = tenantIssuer(tid);
    return {
      sub: microsoftSubject(email, 'rollcall-microsoft'),
      oid: microsoftObjectId(email),
      tid,
      ver: '2.0',
      email,
      name: personaNames(email).name,
      preferred_username: email,
      xms_edov: emailVerified(email) ? true : undefined,
    };
  },
  async tweak(ctx, next) {
    const request = {};
    // /{organizations|common|consumers|<tenant id>}/v2.0/.well-known/openid-configuration
    const discovery = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(ctx.path);
    if (discovery) {
      const tenant = discovery[1].toLowerCase();
      if (tenant === 'organizations' || tenant === 'common') request.issuer = microsoftTemplate;
      else if (tenant === 'consumers' || tenant === MICROSOFT_CONSUMER_TENANT) request.issuer = tenantIssuer(MICROSOFT_CONSUMER_TENANT);
      else if (tenant === MICROSOFT_TENANT) request.issuer = tenantIssuer(MICROSOFT_TENANT);
      else {
        ctx.status = 400;
        ctx.body = { error: 'invalid_tenant', error_description: `Tenant '${discovery[1]}' not found.` };
        return;
      }
      ctx.path = discoveryPath;
    } else if (ctx.path === discoveryPath) {
      ctx.status = 404; // Microsoft has no discovery document at the root
      return;
    }
    await microsoftRequest.run(request, next);

    if (ctx.path === discoveryPath && ctx.body?.issuer) {
      const { authorization_response_iss_parameter_supported: _, ...body } = ctx.body;
      ctx.body = { ...body, subject_types_supported: ['pairwise'] };
    } else if (ctx.path === microsoftRoutes.jwks && ctx.body?.keys) {
      ctx.body = { keys: ctx.body.keys.map((key) => ({ ...key, issuer: microsoftTemplate })) };
    }
    // No `iss` in the redirect back to Rollcall, success or error: Microsoft sends none.
    const location = ctx.response.get('Location');
    if (location?.startsWith(`${rollcall}/`)) {
      const url = new URL(location);
      url.searchParams.delete('iss');
      ctx.set('Location', url.href);
    }
  },
});
// The issuer of the request being served: a tenant's, or the template outside any tenant.
Object.defineProperty(microsoft, 'issuer', {
  configurable: true,
  get: () => microsoftRequest.getStore()?.issuer ?? microsoftTemplate,
  set: () => {},
});

// --- Slack-like -------------------------------------------------------------------------------

const slackRoutes = {
  authorization: '/openid/connect/authorize',
  token: '/api/openid.connect.token',
  userinfo: '/api/openid.connect.userInfo',
  jwks: '/openid/connect/keys',
};
const slack = makeProvider({
  name: 'slack',
  label: 'Slack',
  issuer: origin('slack'),
  routes: slackRoutes,
  claims: {
    openid: [
      'sub',
      'https://slack.com/user_id',
      'https://slack.com/team_id',
      'https://slack.com/team_name',
      'https://slack.com/team_domain',
    ],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  account: (email) => {
    const { name, given_name, family_name } = personaNames(email);
    const team = slackTeam(email);
    return {
      sub: slackUserId(email),
      'https://slack.com/user_id': slackUserId(email),
      'https://slack.com/team_id': slackTeamId(email),
      'https://slack.com/team_name': team.name,
      'https://slack.com/team_domain': team.domain,
      email,
      email_verified: emailVerified(email),
      name,
      given_name,
      family_name,
    };
  },
  // Slack's token responses say "ok": true, as all its Web API responses do.
  async tweak(ctx, next) {
    await next();
    if (ctx.path === slackRoutes.token && ctx.status === 200 && ctx.body?.access_token) {
      ctx.body = { ok: true, ...ctx.body };
    }
  },
});

// --- Listen -----------------------------------------------------------------------------------

await Promise.all(
  Object.entries({ google, microsoft, slack }).map(
    ([name, provider]) =>
      new Promise((resolve, reject) => {
        const server = provider.listen(ports[name], host, resolve);
        server.once('error', reject);
      }),
  ),
);
console.log(
  `OpenID providers ready: google ${origin('google')}, microsoft ${microsoftBase} (tenant ${MICROSOFT_TENANT}), ` +
    `slack ${origin('slack')}; clients redirect to ${rollcall}/auth/<provider>/callback`,
);
