import { expect, Page } from '@playwright/test';
import { randomBytes } from 'node:crypto';
import { cancelAtProvider, signInAtProvider } from './provider';
import {
  addUser,
  expectAccessible,
  invite,
  newWorkspace,
  rollcall,
  screenshotPath,
  signIn,
  signInAsAdmin,
  test,
  waitForLinks,
  Workspace,
} from './support';

// Sign in with Google, Microsoft or Slack against a real OpenID provider (oidc-provider, started
// by playwright.config.ts as three issuers that behave like the three providers). Each test
// makes its own workspace, and its provider accounts live at a domain of its own, so connected
// organisations never clash between tests.

/** A domain no other test uses: the Google-like issuer gives its accounts this `hd`. */
function freshDomain(): string {
  return `acme-${randomBytes(4).toString('hex')}.test`;
}

async function setMode(workspace: Workspace, provider: string, mode: string, orgKey?: string) {
  const args = ['integration', 'set', '--org', workspace.slug, '--provider', provider, '--mode', mode];
  if (orgKey) args.push('--org-key', orgKey);
  await rollcall(args);
}

async function signOut(page: Page) {
  await page.request.post('/auth/logout');
}

test('an admin turns on Google as SSO only, links a personal account from the profile, and signs in with it', { tag: '@screenshot' }, async ({ page }) => {
  const workspace = await newWorkspace({ name: 'Acme' });
  await signInAsAdmin(page, workspace);
  await page.goto('/integrations');
  const google = page.getByRole('region', { name: 'Google Workspace' });
  await expect(google.getByText('/auth/google/callback')).toBeVisible();
  await expectAccessible(page);
  await google.getByRole('button', { name: 'Use SSO only' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Google sign-in is set to SSO only' })).toBeVisible();
  await expect(google.getByText('SSO only').first()).toBeVisible();
  await page.screenshot({ path: screenshotPath('integrations-tab.png'), fullPage: true });

  await page.goto('/profile');
  const accounts = page.getByRole('region', { name: 'Connected accounts' });
  await expectAccessible(page);
  await accounts.getByRole('link', { name: 'Link Google' }).click();
  const personal = `ada.${randomBytes(3).toString('hex')}@gmail.test`;
  await signInAtProvider(page, personal);
  await expect(page).toHaveURL(/\/profile\?linked=google$/);
  await expect(page.getByRole('status').filter({ hasText: 'Your Google account is linked' })).toBeVisible();
  await expect(accounts.getByText(personal)).toBeVisible();

  await signOut(page);
  await page.goto(`/o/${workspace.slug}/login`);
  await expectAccessible(page);
  await page.screenshot({ path: screenshotPath('sign-in-with-providers.png') });
  await page.getByRole('link', { name: 'Continue with Google' }).click();
  await signInAtProvider(page, personal);
  await expect(page).toHaveURL(/\/users$/);
  await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
});

test('connecting the organisation records its domain from the signed sign-in, and an outside account is then refused', async ({ page }) => {
  const workspace = await newWorkspace();
  const domain = freshDomain();
  await signInAsAdmin(page, workspace);
  await page.goto('/integrations');
  const google = page.getByRole('region', { name: 'Google Workspace' });
  await google.getByRole('link', { name: 'Connect organisation' }).click();

  // A personal account cannot connect an organisation.
  await signInAtProvider(page, `ada.${randomBytes(3).toString('hex')}@gmail.test`);
  await expect(page).toHaveURL(/\/auth\/problem$/);
  await expect(page.getByRole('alert')).toContainText('personal Google account');
  await expect(page.getByText(/request id/)).toBeVisible();
  await expectAccessible(page);
  await page.getByRole('link', { name: 'Back to Integrations' }).click();

  await google.getByRole('link', { name: 'Connect organisation' }).click();
  await signInAtProvider(page, `ada@${domain}`);
  await expect(page).toHaveURL(/\/integrations\?connected=google$/);
  await expect(google.getByText(`Connected to ${domain} by ${workspace.admin.email}`)).toBeVisible();
  await expect(google.getByText('Organisation connected').first()).toBeVisible();

  // Linking an account from another organisation is refused, saying why.
  await page.goto('/profile');
  await page.getByRole('link', { name: 'Link Google' }).click();
  await signInAtProvider(page, `ada@other-${domain}`);
  await expect(page).toHaveURL(/\/auth\/problem$/);
  await expect(page.getByRole('alert')).toContainText(`accepts only Google accounts of its own organisation (Google Workspace domain ${domain})`);

  // Cancelling at the provider lands on a page that says so.
  await page.goto('/profile');
  await page.getByRole('link', { name: 'Link Google' }).click();
  await cancelAtProvider(page);
  await expect(page.getByRole('alert')).toContainText('cancelled');
});

test('an invited person joins with Microsoft and is signed in without a password', async ({ page, browser }) => {
  const workspace = await newWorkspace();
  await setMode(workspace, 'microsoft', 'sso-only');
  await signInAsAdmin(page, workspace);
  const newcomer = workspace.email('mo');
  await invite(page, [{ email: newcomer, givenName: 'Mo', familyName: 'Rahman' }]);
  const [link] = await waitForLinks(newcomer, 1);

  const context = await browser.newContext();
  const invitee = await context.newPage();
  await invitee.goto(link);
  await expectAccessible(invitee);
  await invitee.getByRole('link', { name: 'Continue with Microsoft' }).click();
  await signInAtProvider(invitee, newcomer);
  await expect(invitee).toHaveURL(/\/profile$/);
  await expect(invitee.getByRole('region', { name: 'Connected accounts' }).getByText(newcomer)).toBeVisible();
  // The link was used: opening it again says so.
  await invitee.goto(link);
  await expect(invitee.getByRole('heading', { name: 'This invitation has already been used' })).toBeVisible();
  await context.close();
});

test('with Require SSO, members lose the password form and a password sign-in is refused; admins keep theirs', async ({ page, browser }) => {
  const workspace = await newWorkspace();
  await setMode(workspace, 'google', 'sso-only');
  const member = await addUser(workspace, { givenName: 'Bo', familyName: 'Chen', password: 'a member password here' });
  await signInAsAdmin(page, workspace);
  await page.goto('/integrations');
  const requireSso = page.getByRole('region', { name: 'Require SSO' });
  await expect(requireSso.getByText('1 member has no provider linked yet')).toBeVisible();
  await requireSso.getByRole('button', { name: 'Require SSO for members' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Members now sign in only through an enabled provider' })).toBeVisible();

  const context = await browser.newContext();
  const other = await context.newPage();
  await other.goto(`/o/${workspace.slug}/login`);
  await expect(other.getByRole('link', { name: 'Continue with Google' })).toBeVisible();
  await expect(other.getByLabel('Password')).toBeHidden();
  await expectAccessible(other);
  await signIn(other, member, '/login');
  await expect(other.getByRole('alert')).toContainText('requires single sign-on');
  // The admin's break-glass path still works.
  await signIn(other, workspace.admin, '/login');
  await expect(other).toHaveURL(/\/users$/);
  await context.close();
});

test('disabling an integration shows its impact, unlinks everyone, and mails a link that sets a password', async ({ page, browser }) => {
  const workspace = await newWorkspace();
  await setMode(workspace, 'slack', 'sso-only');
  await signInAsAdmin(page, workspace);
  const newcomer = workspace.email('kim');
  await invite(page, [{ email: newcomer, givenName: 'Kim', familyName: 'Park' }]);
  const [link] = await waitForLinks(newcomer, 1);
  const context = await browser.newContext();
  const kim = await context.newPage();
  await kim.goto(link);
  await kim.getByRole('link', { name: 'Continue with Slack' }).click();
  await signInAtProvider(kim, newcomer);
  await expect(kim).toHaveURL(/\/profile$/);

  await page.goto('/integrations');
  const slack = page.getByRole('region', { name: 'Slack' });
  await slack.getByRole('link', { name: 'Disable…' }).click();
  await expect(page.getByRole('heading', { name: 'Disable Slack sign-in' })).toBeVisible();
  const impact = page.getByRole('region', { name: 'What happens' });
  await expect(impact.getByRole('listitem').nth(0)).toContainText('1 person linked with Slack');
  await expect(impact.getByRole('listitem').nth(1)).toContainText('1 person has no other way in');
  await expect(impact.getByRole('listitem').nth(2)).toContainText('0 people have a password');
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Disable Slack and unlink 1 person' }).click();
  await expect(page).toHaveURL(/\/integrations$/);
  await expect(page.getByRole('status').filter({ hasText: 'Slack sign-in is off. 1 person unlinked; 1 person sent a link' })).toBeVisible();

  // Kim's Slack session ended with the integration.
  await kim.goto('/profile');
  await expect(kim).toHaveURL(/\/login/);

  const [access] = await waitForLinks(newcomer, 1, 'access');
  await kim.goto(access);
  await expect(kim.getByRole('heading', { name: `Get back into ${workspace.name}` })).toBeVisible();
  await expectAccessible(kim);
  await kim.getByLabel('New password').fill('kim has a password now');
  await kim.getByRole('button', { name: 'Set password and sign in' }).click();
  await expect(kim).toHaveURL(/\/profile$/);
  // The link works once.
  await kim.goto(access);
  await expect(kim.getByRole('heading', { name: 'This link has been used' })).toBeVisible();
  await context.close();
  await signOut(page);
  await signIn(page, { email: newcomer, password: 'kim has a password now' });
  await expect(page).toHaveURL(/\/profile$/);
});
