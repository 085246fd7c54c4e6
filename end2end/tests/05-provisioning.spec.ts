import { expect } from '@playwright/test';
import { expectAccessible, hydrated, newWorkspace, signInAsAdmin, test } from './support';

// SCIM provisioning as an admin sets it up: the Provisioning tab's base URL and a token shown
// once, the directory (here, requests the test sends as Entra ID would) creating and
// deactivating people, the request log, the Users tab's read-only fields, and revoking.

test('an admin creates a SCIM token, Entra provisions a person with it, the request log shows it, and revoking stops it', async ({ page, playwright, baseURL }) => {
  const workspace = await newWorkspace();
  await signInAsAdmin(page, workspace);
  await page.goto('/provisioning');
  await hydrated(page);
  await expect(page.getByText('No token yet.')).toBeVisible();
  await expectAccessible(page);
  const base = await page.locator('#scim-base-url').innerText();
  expect(base).toMatch(/\/scim\/v2$/);

  await page.getByLabel('Token name').fill('Entra ID');
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByText('you will not see it again')).toBeVisible();
  const token = await page.getByLabel('Secret token').inputValue();
  expect(token).toMatch(/^rcs_[0-9a-f]{64}$/);

  // The directory, with that token.
  const entra = await playwright.request.newContext({
    baseURL: `${base}/`,
    extraHTTPHeaders: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/scim+json' },
  });
  const email = `grace.${workspace.slug}@contoso.test`;
  const lookup = await entra.get(`Users?filter=${encodeURIComponent(`userName eq "${email}"`)}`);
  expect((await lookup.json()).totalResults).toBe(0);
  const created = await entra.post('Users', {
    data: { userName: email, name: { givenName: 'Grace', familyName: 'Hopper' }, emails: [{ value: email, type: 'work', primary: true }], active: true },
  });
  expect(created.status()).toBe(201);
  expect(created.headers()['content-type']).toBe('application/scim+json');
  const bad = await entra.get(`Users?filter=${encodeURIComponent('password eq "x"')}`);
  expect(bad.status()).toBe(400);

  await page.getByRole('link', { name: 'Done' }).click();
  const log = page.getByRole('table', { name: /Latest SCIM requests/ });
  await expect(log.getByText(`created user ${email}`)).toBeVisible();
  await expect(log.getByText(/does not index: .*password/)).toBeVisible();
  const tokens = page.getByRole('table', { name: 'SCIM tokens' });
  await expect(tokens.getByText('Entra ID')).toBeVisible();

  // In the Users tab: source SCIM, and the directory's fields are read-only.
  await page.goto(`/users?q=${encodeURIComponent(email)}`);
  await page.getByRole('row').nth(1).getByRole('link').click();
  await hydrated(page);
  await expect(page.getByText('Provisioned by your directory over SCIM')).toBeVisible();
  await expect(page.getByLabel('Email')).toHaveAttribute('readonly', '');
  await expect(page.getByText('SCIM', { exact: true })).toBeVisible();

  // Revoked: the directory is refused at once.
  await page.goto('/provisioning');
  await page.getByRole('button', { name: 'Revoke Entra ID' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Token revoked' })).toBeVisible();
  expect((await entra.get('Users')).status()).toBe(401);
  await entra.dispose();
  void baseURL;
});
