import { expect, Page } from '@playwright/test';
import { directorySizes, importDataDir, importPort } from '../servers';
import { expectAccessible, invite, newWorkspace, orgIdOf, rollcall, signIn, sql, test, Workspace } from './support';

// Importing people from the organisation's directory, against the fakes of Google Workspace,
// Entra ID with Graph, and Slack (`fake-directory --with-idp`, started by playwright.config.ts
// with a Rollcall server of their own). Each fake is one organisation, and an organisation is
// connected to one workspace at a time, so each journey connects a different provider.

const base = `http://127.0.0.1:${importPort}`;
const orgKeys = { google: 'example.com', microsoft: '5b3c8e2a-7f41-4d09-9c1e-2a6f0d4b8e71', slack: 'T0FAKETEAM' };

test.use({ baseURL: base });

async function connectedWorkspace(page: Page, provider: keyof typeof orgKeys): Promise<Workspace> {
  const workspace = await newWorkspace({ dir: importDataDir });
  await rollcall(
    ['integration', 'set', '--org', workspace.slug, '--provider', provider, '--mode', 'org-connected', '--org-key', orgKeys[provider]],
    '',
    importDataDir,
  );
  await signIn(page, workspace.admin);
  await expect(page).toHaveURL(/\/users$/);
  return workspace;
}

/** "Import people" on the card: the fake's consent answers at once, and the read starts. */
async function grantAccess(page: Page, product: string) {
  await page.goto('/integrations');
  const card = page.getByRole('region', { name: product });
  await card.getByRole('link', { name: 'Import people' }).click();
  await expect(page).toHaveURL(/\/import\?connected=1$/);
  await expect(page.getByRole('heading', { name: `Import people from ${product}` })).toBeVisible();
}

/** Waits for the read to end: the progress island reloads the page with the results. */
async function readFinished(page: Page) {
  await expect(page.getByRole('heading', { name: /^Last read/ })).toBeVisible({ timeout: 30_000 });
}

test('an admin connects Google Workspace, watches the read, filters, imports everyone ready across pages, and invites them from the Users tab', async ({ page }) => {
  await connectedWorkspace(page, 'google');
  await grantAccess(page, 'Google Workspace');
  await readFinished(page);
  await expectAccessible(page);
  const ready = page.getByRole('link', { name: /^Ready to import \(/ });
  const readyCount = Number((await ready.innerText()).match(/\(([\d,]+)\)/)![1].replace(/,/g, ''));
  expect(readyCount).toBeGreaterThan(1000);
  expect(readyCount).toBeLessThan(directorySizes.google);

  // Skipped people say why; the search runs on the server.
  await page.getByRole('link', { name: /^Skipped \(/ }).click();
  await expect(page.locator('tr[data-state="skipped"]').first()).toContainText(/suspended|archived/);
  await page.getByRole('link', { name: /^All \(/ }).click();
  await page.getByLabel('Search by name or email').fill('ada@example.com');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.locator('tbody tr')).toHaveCount(1);

  // Everyone ready, across all pages, in one go.
  await page.goto('/integrations/google/import?state=ready');
  await expect(page.getByText(/Page 1 of \d+/)).toBeVisible();
  await page.getByRole('button', { name: `Import all ${readyCount.toLocaleString('en-US')} people ready or changed` }).click();
  await expect(page.getByRole('status').filter({ hasText: `${readyCount} imported` })).toBeVisible();
  await page.getByRole('link', { name: /^Already imported \(/ }).click();
  await expect(page.getByRole('link', { name: /^Already imported \(/ })).toContainText(readyCount.toLocaleString('en-US'));

  // They are in the Users tab as Imported, ready to invite.
  await page.goto('/users?status=imported');
  const firstRow = await page.locator('tbody tr').first().innerText();
  const email = firstRow.match(/[\w.+-]+@example\.com/)![0];
  await invite(page, [{ email }]);
  await page.goto(`/users?status=invited&q=${encodeURIComponent(email)}`);
  await expect(page.locator('tbody tr').filter({ hasText: email })).toHaveCount(1);
});

test('an admin installs the Slack app, picks two people on the page, imports them, and sees the card\'s last read', async ({ page }) => {
  await connectedWorkspace(page, 'slack');
  await grantAccess(page, 'Slack');
  await readFinished(page);
  await page.goto('/integrations/slack/import?state=ready');
  const boxes = page.getByRole('checkbox');
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await page.getByRole('button', { name: 'Import selected' }).click();
  await expect(page.getByRole('status').filter({ hasText: '2 imported' })).toBeVisible();

  await page.goto('/integrations');
  const card = page.getByRole('region', { name: 'Slack' });
  await expect(card.getByText(/Last read .*people fetched/)).toBeVisible();
  await card.getByLabel('Sync automatically').selectOption('12');
  await card.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'every 12 hours' })).toBeVisible();
  await expectAccessible(page);
});

test('people removed from Entra ID are deactivated only after the admin types the count', async ({ page }) => {
  const workspace = await connectedWorkspace(page, 'microsoft');
  await grantAccess(page, 'Microsoft 365');
  await readFinished(page);
  await page.goto('/integrations/microsoft/import?state=ready');
  await page.getByRole('button', { name: /^Import all .* ready or changed$/ }).click();
  await expect(page.getByRole('status').filter({ hasText: /\d+ imported/ })).toBeVisible();

  // Forty of them leave the directory (as a delta read reports): marked removed upstream.
  sql(
    `update directory_entries set removed_at = now() where org_id = ${orgIdOf(workspace)} and upstream_id in (
       select upstream_id from directory_entries where org_id = ${orgIdOf(workspace)} and skip_reason is null
       order by upstream_id limit 40)`,
    importDataDir,
  );
  await page.goto('/integrations/microsoft/import?state=removed');
  await expect(page.getByRole('link', { name: 'Removed or suspended upstream (40)' })).toBeVisible();
  await page.getByRole('button', { name: 'Deactivate all 40 people' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Type 40 in the box to confirm' })).toBeVisible();
  await page.getByLabel('To deactivate many, type the count').fill('40');
  await page.getByRole('button', { name: 'Deactivate all 40 people' }).click();
  await expect(page.getByRole('status').filter({ hasText: '40 deactivated' })).toBeVisible();
  await page.goto('/users?status=deactivated');
  await expect(page.locator('tbody tr')).toHaveCount(40);
});
