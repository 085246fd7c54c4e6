import { expect, test, Page } from '@playwright/test';
import { ADMIN, expectAccessible, hydrated, mailedLinks, sql } from './support';

test.describe.configure({ mode: 'serial' });

async function signInAsAdmin(page: Page) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/users$/);
}

async function waitForLinks(to: string, count: number): Promise<string[]> {
  await expect.poll(() => mailedLinks(to).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(count);
  return mailedLinks(to);
}

async function openUser(page: Page, email: string) {
  await page.goto(`/users?q=${encodeURIComponent(email)}`);
  await page.getByRole('row').nth(1).getByRole('link').click();
  await hydrated(page);
}

test('an admin invites two people; an invalid address in the list shows its error', async ({ page }) => {
  await signInAsAdmin(page);
  await page.getByRole('link', { name: 'Invite people' }).click();
  await hydrated(page);
  await expectAccessible(page);
  await page.getByLabel('Email addresses').fill('lin@acme.test, not-an-email\nken@acme.test');
  await page.getByRole('button', { name: 'Preview' }).click();

  const preview = page.getByRole('region', { name: 'Preview' }).or(page.locator('section[aria-labelledby="preview-heading"]'));
  await expect(preview.getByRole('row', { name: /not-an-email/ })).toContainText('is missing an @');
  await expect(preview.getByText('New invite')).toHaveCount(2);
  await expect(page.getByText('2 will be invited, 1 invalid. Nothing is sent until you confirm.')).toBeVisible();
  await expectAccessible(page);

  await page.getByRole('button', { name: 'Send 2 invitations' }).click();
  await expect(page.getByRole('heading', { name: 'Sent 2 invitations' })).toBeVisible();
  await page.getByRole('link', { name: 'See invited people' }).click();
  await expect(page.getByRole('link', { name: 'lin@acme.test' })).toBeVisible();
  await expect(page.getByRole('row', { name: /lin@acme\.test/ })).toContainText('Invited');
});

test('the invited person opens the mailed link, sets a password and lands signed in', async ({ browser }) => {
  const [link] = await waitForLinks('lin@acme.test', 1);
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(link);
  await expect(page.getByRole('heading', { name: 'Join Acme Corp' })).toBeVisible();
  await expect(page.getByText('invited you as lin@acme.test')).toBeVisible();
  await expectAccessible(page);
  await page.getByLabel('First name').fill('Lin');
  await page.getByLabel('Last name').fill('Chen');
  await page.getByLabel('Password').fill('lin has a long password');
  await page.getByRole('button', { name: 'Join Acme Corp' }).click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByRole('heading', { name: 'Your profile' })).toBeVisible();
  await expect(page.locator('.user-menu summary')).toContainText('Lin Chen');

  // The link works once.
  const other = await context.browser()!.newContext();
  const again = await other.newPage();
  await again.goto(link);
  await expect(again.getByRole('heading', { name: 'This invitation has already been used' })).toBeVisible();
  await context.close();
  await other.close();
});

test('resending invalidates the first link; revoking invalidates the second', async ({ page, browser }) => {
  const [first] = await waitForLinks('ken@acme.test', 1);
  await signInAsAdmin(page);
  await openUser(page, 'ken@acme.test');
  await expect(page.getByRole('heading', { name: 'Invitation' })).toBeVisible();
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Resend' }).click();
  await expect(page.getByRole('status')).toContainText('The previous link no longer works');
  const links = await waitForLinks('ken@acme.test', 2);
  const second = links[links.length - 1];
  expect(second).not.toBe(first);

  const visitor = await (await browser.newContext()).newPage();
  await visitor.goto(first);
  await expect(visitor.getByRole('heading', { name: 'This invitation is no longer valid' })).toBeVisible();
  await expectAccessible(visitor);
  await visitor.goto(second);
  await expect(visitor.getByRole('heading', { name: 'Join Acme Corp' })).toBeVisible();

  await page.getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByRole('status')).toContainText('Invitation revoked');
  await expect(page.getByText('Not invited yet.')).toBeVisible();
  await visitor.reload();
  await expect(visitor.getByRole('heading', { name: 'This invitation is no longer valid' })).toBeVisible();
});

test('an expired link says so and what to do', async ({ page, browser }) => {
  await signInAsAdmin(page);
  await openUser(page, 'ken@acme.test');
  await page.getByRole('button', { name: 'Send invitation' }).click();
  await expect(page.getByRole('status')).toContainText('Invitation sent');
  const links = await waitForLinks('ken@acme.test', 3);
  sql("update invites set expires_at = now() - interval '1 hour' where accepted_at is null and revoked_at is null and superseded_at is null");

  const visitor = await (await browser.newContext()).newPage();
  await visitor.goto(links[links.length - 1]);
  await expect(visitor.getByRole('heading', { name: 'This invitation has expired' })).toBeVisible();
  await expect(visitor.getByText('Ask Ada Lovelace to send you a new one')).toBeVisible();
  await expectAccessible(visitor);

  await page.reload();
  await expect(page.getByText(/expired/)).toBeVisible();
});

test('people added by hand are invited from the table, several at once', async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto('/users?status=imported');
  await hydrated(page);
  await expect(page.getByText('1–4 of 4')).toBeVisible();
  const bar = page.getByRole('region', { name: 'Bulk actions' });
  const rowBoxes = page.locator('tbody input[type=checkbox]');
  // The whole page at once, and back: every row shows it.
  const wholePage = page.getByRole('checkbox', { name: 'Select every user on this page' });
  await wholePage.check();
  await expect(bar).toContainText('4 selected');
  await expect(page.locator('tbody input:checked')).toHaveCount(4);
  await expect(page.locator('tbody tr.selected')).toHaveCount(4);
  await wholePage.uncheck();
  await expect(bar).toBeHidden();
  await expect(page.locator('tbody input:checked')).toHaveCount(0);
  await expect(rowBoxes).toHaveCount(4);
  await page.getByRole('checkbox', { name: 'Select Alan Turing' }).check();
  await page.getByRole('checkbox', { name: 'Select Edsger Dijkstra' }).check();
  await expect(bar).toContainText('2 selected');
  await expect(page.getByRole('row', { name: /Alan Turing/ })).toHaveClass('selected');
  await expect(wholePage).not.toBeChecked();
  await expectAccessible(page);
  await bar.getByRole('button', { name: 'Send invites' }).click();
  await expect(page.getByRole('status')).toContainText('Sent 2 invitations.');
  await expect(page.getByText('1–2 of 2')).toBeVisible();
  await waitForLinks('alan@acme.test', 1);
  await waitForLinks('edsger@acme.test', 1);
});

test('the outbox lists every mail with its delivery status', async ({ page }) => {
  await signInAsAdmin(page);
  await page.getByRole('link', { name: 'Email outbox' }).click();
  await expect(page.getByRole('heading', { name: 'Email outbox' })).toBeVisible();
  await expect(page.getByRole('row', { name: /lin@acme\.test/ })).toContainText('Sent');
  await expectAccessible(page);
  await page.getByRole('link', { name: 'Activity' }).click();
  await expect(page.getByRole('cell', { name: 'accepted an invitation' })).toBeVisible();
});
