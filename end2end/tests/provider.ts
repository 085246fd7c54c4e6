// The local OpenID providers (oidc/issuers.mjs) as the tests meet them: where they are, the
// clients Rollcall is registered as, and the two things a person does at their sign-in page.
//
// Every time Rollcall sends the browser to a provider, the provider shows its sign-in form,
// whatever session the browser has there: any email address and any password sign in as that
// address, and who that is (subject, tenant, team, name, verified or not) follows from the
// address alone (oidc/personas.mjs, importable from tests: `import { slackTeamId } from
// '../oidc/personas.mjs'`). Consent is automatic. The form's Cancel link sends the browser
// back to Rollcall with error=access_denied.
import { Page } from '@playwright/test';
import { googlePort, microsoftPort, port, slackPort } from '../servers';

export type ProviderName = 'google' | 'microsoft' | 'slack';

/** The Google-like provider's issuer; discovery at /.well-known/openid-configuration. */
export const googleIssuer = `http://127.0.0.1:${googlePort}`;
/**
 * The Microsoft-like provider's authority. Its multi-tenant discovery document is
 * `${microsoftAuthority}/organizations/v2.0/.well-known/openid-configuration`, with issuer
 * `${microsoftAuthority}/{tenantid}/v2.0`; an ID token's `iss` is `microsoftIssuer(tid)`.
 */
export const microsoftAuthority = `http://127.0.0.1:${microsoftPort}`;
/** The Slack-like provider's issuer; discovery at /.well-known/openid-configuration. */
export const slackIssuer = `http://127.0.0.1:${slackPort}`;

/** The issuer of ID tokens for accounts in tenant `tid` (see microsoftTenant in personas.mjs). */
export function microsoftIssuer(tid: string): string {
  return `${microsoftAuthority}/${tid}/v2.0`;
}

/** Rollcall's client at each provider: confidential, client_secret_post, code flow with PKCE. */
export const clients: Record<ProviderName, { id: string; secret: string }> = {
  google: { id: 'rollcall-google', secret: 'e2e-google-secret' },
  microsoft: { id: 'rollcall-microsoft', secret: 'e2e-microsoft-secret' },
  slack: { id: 'rollcall-slack', secret: 'e2e-slack-secret' },
};

/** Where each provider lets Rollcall's client come back to: the only redirect URI registered. */
export function redirectUri(provider: ProviderName, rollcallPort = port): string {
  return `http://127.0.0.1:${rollcallPort}/auth/${provider}/callback`;
}

/** The environment a Rollcall server listening on `rollcallPort` needs to use the three providers. */
export function providerEnv(rollcallPort: number): Record<string, string> {
  return {
    ROLLCALL_PUBLIC_URL: `http://127.0.0.1:${rollcallPort}`,
    ROLLCALL_GOOGLE_CLIENT_ID: clients.google.id,
    ROLLCALL_GOOGLE_CLIENT_SECRET: clients.google.secret,
    ROLLCALL_GOOGLE_ISSUER: googleIssuer,
    ROLLCALL_MICROSOFT_CLIENT_ID: clients.microsoft.id,
    ROLLCALL_MICROSOFT_CLIENT_SECRET: clients.microsoft.secret,
    ROLLCALL_MICROSOFT_AUTHORITY: microsoftAuthority,
    ROLLCALL_SLACK_CLIENT_ID: clients.slack.id,
    ROLLCALL_SLACK_CLIENT_SECRET: clients.slack.secret,
    ROLLCALL_SLACK_ISSUER: slackIssuer,
  };
}

const providerOrigins = new Set([googleIssuer, microsoftAuthority, slackIssuer]);
const rollcallOrigin = `http://127.0.0.1:${port}`;

/** Waits until the browser is at one of the providers (Rollcall's redirect there has committed). */
async function atProvider(page: Page) {
  await page.waitForURL((url) => providerOrigins.has(url.origin), { waitUntil: 'commit' });
}

/**
 * At a provider's sign-in page (where Rollcall has just sent the browser): signs in as `login`,
 * an email address, with any password; resolves once the browser is back at Rollcall (its
 * navigation there has committed, after any redirects Rollcall's callback makes).
 */
export async function signInAtProvider(page: Page, login: string) {
  await atProvider(page);
  const signInPage = page.url();
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(
    (url) => url.origin === rollcallOrigin || (providerOrigins.has(url.origin) && url.href !== signInPage),
    { waitUntil: 'commit' },
  );
  if (new URL(page.url()).origin !== rollcallOrigin) {
    // Still at the provider: its consent page. Consent is automatic, but should a provider ever
    // ask, its one button is "Continue".
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await page.waitForURL((url) => url.origin === rollcallOrigin, { waitUntil: 'commit' });
  }
}

/**
 * At a provider's sign-in page: gives up ("Cancel"), so the provider sends the browser back to
 * Rollcall's callback with error=access_denied (and the state); resolves once it is back.
 */
export async function cancelAtProvider(page: Page) {
  await atProvider(page);
  await page.getByRole('link', { name: 'Cancel', exact: true }).click();
  await page.waitForURL((url) => url.origin === rollcallOrigin, { waitUntil: 'commit' });
}
