import { expect } from '@playwright/test';
import { firstRunURL } from '../servers';
import { expectAccessible, test } from './support';

// This file runs against a server of its own, started on a brand-new data directory that no
// other test touches (playwright.config.ts), so it really meets an empty server, alone or in
// the whole suite, in any order. Once it has run, that server has a workspace: a second run of
// this test (--repeat-each, a retry) needs the suite restarted.
test.use({ baseURL: firstRunURL });

const ADMIN = { email: 'ada@acme.test', password: 'correct horse battery staple' };

test('first run: an empty server asks to create a workspace and its admin', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/setup$/);
  await expect(page.getByRole('heading', { name: 'Create your workspace' })).toBeVisible();
  await expectAccessible(page);

  await page.getByLabel('Organisation name').fill('Acme Corp');
  await page.getByLabel('Your first name').fill('Ada');
  await page.getByLabel('Your last name').fill('Lovelace');
  await page.getByLabel('Work email').fill(ADMIN.email);
  await page.getByLabel('Password').fill('too short');
  await page.getByRole('button', { name: 'Create workspace' }).click();

  // The error is shown under the field and what was typed is kept.
  await expect(page.locator('#password-error')).toHaveText('Use at least 10 characters.');
  await expect(page.getByLabel('Organisation name')).toHaveValue('Acme Corp');
  await expectAccessible(page);

  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create workspace' }).click();
  await expect(page).toHaveURL(/\/users$/);
  await expect(page.getByRole('link', { name: 'Ada Lovelace' })).toBeVisible();
  await expect(page.locator('.org-name')).toHaveText('Acme Corp');
  await expectAccessible(page);
});
